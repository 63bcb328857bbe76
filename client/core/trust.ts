import { equalBytes, fromBase64Url, type PinnedKeyStore } from '../../crypto/index.ts'
import type { ContactRecord, Db } from './store/db.ts'

/**
 * What became of a key the server reported for a friend:
 * - `pinned`: first contact with a friend this device vouches for (see {@link Trust.observeFriend});
 * - `unchanged`: the key pinned already;
 * - `changed`: another key than the pinned one, newly parked for the user's review (sending blocked);
 * - `unconfirmed`: nobody on this device vouches for the friendship: the key waits, unpinned, for
 *   the user to confirm it;
 * - `mismatch`: a member list signed by a trusted key gives them another key: the server's is
 *   not taken (for a friend it waits unpinned, like `unconfirmed`);
 * - `ignored`: a report about someone who is not a contact (a server frame cannot introduce a key).
 */
export type PinOutcome = 'pinned' | 'unchanged' | 'changed' | 'unconfirmed' | 'mismatch' | 'ignored'

/** Stored in `meta` under {@link trustMetaKey}: what this device itself did about friendships. */
interface TrustMeta {
  /** Usernames this device sent a friend request to, or accepted one from. */
  readonly intents: readonly string[]
  /** The first friend list this device saw was taken on trust (a fresh device has nothing better). */
  readonly bootstrapped: boolean
}

const trustMetaKey = 'trust'

/** Why sending to `peer` is refused while {@link Trust.canSend} is false (the typed errors' text). */
export function notAcceptedText(peer: string): string {
  return `${peer}'s key is not accepted here: confirm the friend, or review their changed key, before sending`
}

/**
 * Friends' identity keys, and where each came from. A key enters trust only from a source that
 * can vouch for it:
 * - a friendship this device took part in (it sent the request or accepted it), the key then pinned
 *   on first sight as the server reports it (trust on first use);
 * - the very first friend list of a fresh device (the same trust on first use, once per device);
 * - a member list signed by a key already trusted, for group members (`setFallback`);
 * - the user: accepting a reported key, or marking a safety number verified.
 *
 * Anything else the server says about a key is a claim. A different key for a pinned friend is
 * parked as `pendingKey` and only the user clears it (accepting it, or keeping the pinned one); a
 * friend nobody here vouches for is listed as unconfirmed, with no key trusted until the user
 * confirms it. `key-changed` frames can report, never create or clear.
 */
export class Trust implements PinnedKeyStore {
  /** Read on every message sent: kept in memory, written through. */
  private readonly cache = new Map<string, ContactRecord | undefined>()
  /** Keys for people who are not contacts: group members, from the admin-signed member lists. */
  private fallback: ((username: string) => Promise<Uint8Array | null>) | undefined
  /** Friends the server lists whom nothing here vouches for: the key it claims, not trusted. */
  private readonly claims = new Map<string, string>()
  private meta: TrustMeta | undefined

  constructor(private readonly db: Db) {}

  /** A contact whose key this device trusts (pinned), if any. */
  async contact(username: string): Promise<ContactRecord | undefined> {
    if (this.cache.has(username)) return this.cache.get(username)
    const c = await this.db.get('contacts', username)
    this.cache.set(username, c)
    return c
  }

  private async write(c: ContactRecord): Promise<void> {
    await this.db.put('contacts', c)
    this.cache.set(c.username, c)
    this.claims.delete(c.username)
  }

  async contacts(): Promise<ContactRecord[]> {
    const all = await this.db.getAll('contacts')
    for (const c of all) this.cache.set(c.username, c)
    return all
  }

  /** The key the server claims for a friend this device has not confirmed, if any. */
  claim(username: string): string | undefined {
    return this.claims.get(username)
  }

  private async loadMeta(): Promise<TrustMeta> {
    if (this.meta !== undefined) return this.meta
    const stored = (await this.db.get('meta', trustMetaKey)) as Partial<TrustMeta> | undefined
    const intents = Array.isArray(stored?.intents)
      ? stored.intents.filter((u): u is string => typeof u === 'string')
      : []
    // A device that pinned contacts before intents were kept has had its first list already.
    const bootstrapped = stored?.bootstrapped === true || (await this.db.count('contacts')) > 0
    this.meta = { intents, bootstrapped }
    return this.meta
  }

  private async saveMeta(meta: TrustMeta): Promise<void> {
    this.meta = meta
    await this.db.put('meta', meta, trustMetaKey)
  }

  /** This device sends a friend request to `username`, or accepts theirs: it vouches for the friendship. */
  async recordIntent(username: string): Promise<void> {
    const meta = await this.loadMeta()
    if (!meta.intents.includes(username))
      await this.saveMeta({ ...meta, intents: [...meta.intents, username] })
  }

  /** This device withdrew its request: a friendship the server reports later is no longer vouched for. */
  async dropIntent(username: string): Promise<void> {
    const meta = await this.loadMeta()
    if (meta.intents.includes(username))
      await this.saveMeta({ ...meta, intents: meta.intents.filter((u) => u !== username) })
  }

  /**
   * The server lists `username` as a friend with this key (friend list, `friend-added`). Pinned
   * when a source here vouches for it; else, or when a signed member list disagrees, kept as an
   * unconfirmed claim.
   */
  async observeFriend(username: string, identityKey: string): Promise<PinOutcome> {
    const existing = await this.contact(username)
    if (existing !== undefined) return this.compare(existing, identityKey)
    const listed = await this.fallback?.(username)
    if (listed != null) {
      // A member list signed by a trusted key vouches for this user's key: the server must agree.
      if (equalKey(listed, identityKey)) return this.pin(username, identityKey)
      this.unconfirmed(username, identityKey)
      return 'mismatch'
    }
    const meta = await this.loadMeta()
    if (meta.intents.includes(username) || !meta.bootstrapped) return this.pin(username, identityKey)
    return this.unconfirmed(username, identityKey)
  }

  /** The server's friend list was applied: later lists no longer count as a fresh device's first. */
  async friendListSeen(): Promise<void> {
    const meta = await this.loadMeta()
    if (!meta.bootstrapped) await this.saveMeta({ ...meta, bootstrapped: true })
  }

  /** A `key-changed` report: parks a new key for a pinned friend; about anyone else it is ignored. */
  async observeKeyChange(username: string, identityKey: string): Promise<PinOutcome> {
    const existing = await this.contact(username)
    if (existing !== undefined) return this.compare(existing, identityKey)
    const listed = await this.fallback?.(username)
    return listed != null && !equalKey(listed, identityKey) ? 'mismatch' : 'ignored'
  }

  private async compare(existing: ContactRecord, identityKey: string): Promise<PinOutcome> {
    // The pinned key again does not clear a parked change: only the user does.
    if (existing.identityKey === identityKey) return 'unchanged'
    if (existing.pendingKey === identityKey || existing.keptOver === identityKey) return 'unchanged'
    await this.write({ ...existing, pendingKey: identityKey })
    return 'changed'
  }

  private async pin(username: string, identityKey: string): Promise<PinOutcome> {
    await this.write({ username, identityKey, pendingKey: null, verified: false, addedAt: Date.now() })
    return 'pinned'
  }

  private unconfirmed(username: string, identityKey: string): PinOutcome {
    const before = this.claims.get(username)
    this.claims.set(username, identityKey)
    return before === identityKey ? 'unchanged' : 'unconfirmed'
  }

  /** Claims stand only while the server lists them as friends: the others go. */
  retainClaims(listed: ReadonlySet<string>): void {
    for (const username of this.claims.keys()) if (!listed.has(username)) this.claims.delete(username)
  }

  /**
   * The user accepts the key reported for a friend: a pinned friend's new key (the old
   * verification no longer holds), or an unconfirmed friend's claimed key.
   */
  async acceptKeyChange(username: string): Promise<void> {
    const c = await this.contact(username)
    if (c?.pendingKey != null) {
      const { keptOver: _, ...rest } = c
      await this.write({ ...rest, identityKey: c.pendingKey, pendingKey: null, verified: false })
      return
    }
    const claimed = this.claims.get(username)
    if (c === undefined && claimed !== undefined) await this.pin(username, claimed)
  }

  /** The user keeps the pinned key over a reported one (e.g. after comparing safety numbers). */
  async keepPinnedKey(username: string): Promise<void> {
    const c = await this.contact(username)
    if (c?.pendingKey != null) await this.write({ ...c, keptOver: c.pendingKey, pendingKey: null })
  }

  /**
   * Marks the safety number compared (or not). Verifying an unconfirmed friend's number pins the
   * key it was computed from: the user vouches for it.
   */
  async setVerified(username: string, verified: boolean): Promise<void> {
    const c = await this.contact(username)
    if (c !== undefined) {
      await this.write({ ...c, verified })
      return
    }
    const claimed = this.claims.get(username)
    if (claimed !== undefined && verified) {
      await this.pin(username, claimed)
      await this.setVerified(username, true)
    }
  }

  /**
   * Marks a friend verified only if `identityKey` is the key that would be marked: the pinned one,
   * or for an unconfirmed friend the claimed one (which it then pins). False, and nothing
   * changed, when the key moved on since the caller looked (a scan checked against it is stale).
   */
  async verifyKey(username: string, identityKey: string): Promise<boolean> {
    const c = await this.contact(username)
    if (c !== undefined) {
      if (c.identityKey !== identityKey) return false
      await this.write({ ...c, verified: true })
      return true
    }
    if (this.claims.get(username) !== identityKey) return false
    await this.write({ username, identityKey, pendingKey: null, verified: true, addedAt: Date.now() })
    return true
  }

  /** Sending is allowed only to a pinned key with no unaccepted change. */
  async canSend(username: string): Promise<boolean> {
    const c = await this.contact(username)
    return c !== undefined && c.pendingKey === null
  }

  async pinnedIdentityKey(username: string): Promise<Uint8Array | null> {
    const c = await this.contact(username)
    if (c === undefined) return (await this.fallback?.(username)) ?? null
    if (c.pendingKey !== null) return null
    return fromBase64Url(c.identityKey, 32)
  }

  /**
   * Where keys of non-contacts come from: members of a group who are not friends are
   * authenticated with the key the group's signed member list gives them (groups/groups.ts).
   * A contact's own pinned key always wins (and a list that disagrees with it leaves that member
   * out of the group, groups/pins.ts).
   */
  setFallback(keys: (username: string) => Promise<Uint8Array | null>): void {
    this.fallback = keys
  }
}

function equalKey(key: Uint8Array, base64: string): boolean {
  try {
    return equalBytes(key, fromBase64Url(base64, 32))
  } catch {
    return false
  }
}
