import { fromBase64Url, type PinnedKeyStore } from '../../crypto/index.ts'
import type { ContactRecord, Db } from './store/db.ts'

export type PinOutcome = 'pinned' | 'unchanged' | 'changed'

/**
 * Friends' identity keys, pinned on first contact. What the server says about a key is only a
 * claim: a different key is parked as `pendingKey` and sending stays blocked until the user
 * accepts it, and envelopes keep being checked against the pinned key meanwhile.
 */
export class Trust implements PinnedKeyStore {
  constructor(private readonly db: Db) {}

  async contact(username: string): Promise<ContactRecord | undefined> {
    return this.db.get('contacts', username)
  }

  async contacts(): Promise<ContactRecord[]> {
    return this.db.getAll('contacts')
  }

  /** Records the key the server reports for a friend. */
  async observe(username: string, identityKey: string): Promise<PinOutcome> {
    const tx = this.db.transaction('contacts', 'readwrite')
    const existing = await tx.store.get(username)
    let outcome: PinOutcome
    if (existing === undefined) {
      await tx.store.put({ username, identityKey, pendingKey: null, verified: false, addedAt: Date.now() })
      outcome = 'pinned'
    } else if (existing.identityKey === identityKey) {
      if (existing.pendingKey !== null) await tx.store.put({ ...existing, pendingKey: null })
      outcome = 'unchanged'
    } else {
      if (existing.pendingKey !== identityKey) await tx.store.put({ ...existing, pendingKey: identityKey })
      outcome = 'changed'
    }
    await tx.done
    return outcome
  }

  /** The user accepted a friend's new key: pin it; the old verification no longer holds. */
  async acceptKeyChange(username: string): Promise<void> {
    const tx = this.db.transaction('contacts', 'readwrite')
    const c = await tx.store.get(username)
    if (c?.pendingKey != null) await tx.store.put({ ...c, identityKey: c.pendingKey, pendingKey: null, verified: false })
    await tx.done
  }

  async setVerified(username: string, verified: boolean): Promise<void> {
    const tx = this.db.transaction('contacts', 'readwrite')
    const c = await tx.store.get(username)
    if (c !== undefined) await tx.store.put({ ...c, verified })
    await tx.done
  }

  /** Sending is allowed only to a pinned key with no unaccepted change. */
  async canSend(username: string): Promise<boolean> {
    const c = await this.contact(username)
    return c !== undefined && c.pendingKey === null
  }

  async pinnedIdentityKey(username: string): Promise<Uint8Array | null> {
    const c = await this.contact(username)
    if (c === undefined || c.pendingKey !== null) return null
    return fromBase64Url(c.identityKey, 32)
  }
}
