/**
 * What a username looks like at a glance, so that a new name that reads like an existing one
 * (`c0nf` for `conf`, `j.smith` for `jsmith`, `rnary` for `mary`) can be refused: friend
 * requests from a look-alike are the cheapest impersonation there is. Usernames are already
 * lower case and ASCII (`shared/common.ts`), so the ASCII cases of Unicode's confusables
 * (UTS #39) are all there is to cover: separators are dropped, and the letter pairs and digits
 * that render like one letter are folded to it.
 *
 * Changing this function changes which names collide: existing users keep their stored key
 * until a migration recomputes it (signaling/storage/migrations.ts).
 */
export function lookAlikeKey(username: string): string {
  return username
    .toLowerCase()
    .replace(/[._-]/g, '')
    .replace(/rn/g, 'm')
    .replace(/vv/g, 'w')
    .replace(/cl/g, 'd')
    .replace(/0/g, 'o')
    .replace(/1/g, 'l')
}
