import { fromBase64Url, type PinnedKeyStore } from '../../crypto/index.ts'
import type { ContactRecord, Db } from './store/db.ts'

export type PinOutcome = 'pinned' | 'unchanged' | 'changed'

/**
 * Friends' identity keys, pinned on first contact. What the server says about a key is only a
 * claim: a different key is parked as `pendingKey` and sending stays blocked until the user
 * accepts it, and envelopes keep being checked against the pinned key meanwhile.
 */
export class Trust implements PinnedKeyStore {
  /** Read on every message sent: kept in memory, written through. */
  private readonly cache = new Map<string, ContactRecord | undefined>()
  /** Keys for people who are not contacts: group members, from the admin-signed member lists. */
  private fallback: ((username: string) => Promise<Uint8Array | null>) | undefined

  constructor(private readonly db: Db) {}

  async contact(username: string): Promise<ContactRecord | undefined> {
    if (this.cache.has(username)) return this.cache.get(username)
    const c = await this.db.get('contacts', username)
    this.cache.set(username, c)
    return c
  }

  private async write(c: ContactRecord): Promise<void> {
    await this.db.put('contacts', c)
    this.cache.set(c.username, c)
  }

  async contacts(): Promise<ContactRecord[]> {
    const all = await this.db.getAll('contacts')
    for (const c of all) this.cache.set(c.username, c)
    return all
  }

  /** Records the key the server reports for a friend. */
  async observe(username: string, identityKey: string): Promise<PinOutcome> {
    const existing = await this.contact(username)
    if (existing === undefined) {
      await this.write({ username, identityKey, pendingKey: null, verified: false, addedAt: Date.now() })
      return 'pinned'
    }
    if (existing.identityKey === identityKey) {
      if (existing.pendingKey !== null) await this.write({ ...existing, pendingKey: null })
      return 'unchanged'
    }
    if (existing.pendingKey !== identityKey) await this.write({ ...existing, pendingKey: identityKey })
    return 'changed'
  }

  /** The user accepted a friend's new key: pin it; the old verification no longer holds. */
  async acceptKeyChange(username: string): Promise<void> {
    const c = await this.contact(username)
    if (c?.pendingKey != null)
      await this.write({ ...c, identityKey: c.pendingKey, pendingKey: null, verified: false })
  }

  async setVerified(username: string, verified: boolean): Promise<void> {
    const c = await this.contact(username)
    if (c !== undefined) await this.write({ ...c, verified })
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
   * A contact's own pinned key always wins.
   */
  setFallback(keys: (username: string) => Promise<Uint8Array | null>): void {
    this.fallback = keys
  }
}
