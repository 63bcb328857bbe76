import type { Context } from '../context.ts'

/**
 * Tells the user's contacts that they came online or went offline. With several nodes, the
 * opposite change can happen on another node while this one is still pushing, and the two
 * pushes can arrive in either order; so once this push is out, presence is read again and, if
 * it no longer holds, the current state is pushed too. Contacts may see a change twice, never
 * a stale one last.
 */
export async function announcePresence(
  ctx: Context,
  username: string,
  online: boolean,
  contacts?: readonly string[],
): Promise<void> {
  const to = contacts ?? (await ctx.contactsOf(username))
  if (to.length === 0) return
  await ctx.push(to, { type: 'presence', username, online })
  if ((await ctx.hub.isOnline(username)) !== online)
    await ctx.push(to, { type: 'presence', username, online: !online })
}
