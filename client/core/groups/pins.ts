import { fromBase64Url } from '../../../crypto/index.ts'
import type { ContactRecord } from '../store/db.ts'
import type { GroupContext } from './context.ts'
import type { LiveGroup } from './group-store.ts'

/**
 * Keys for connections to members who are not friends: the identity key the signed member lists
 * give each of them, and the friends a list gives another key than the pinned one (left out).
 */
export class MemberPins {
  /** Identity keys the member lists give non-friends (null: two groups disagree). */
  private pins = new Map<string, string | null>()
  /** Members left out because a list gives a friend another key than the pinned one. */
  private mismatched = new Set<string>()

  constructor(
    private readonly c: GroupContext,
    /** A friend's pinned key, if any (trust.ts). */
    private readonly contact: (username: string) => Promise<ContactRecord | undefined>,
  ) {}

  /**
   * The identity key a member list gives a member who is not a friend, for authenticating the
   * connection to them (trust.ts falls back to it). Null when no group names them or two
   * groups disagree.
   */
  groupKey(username: string): Uint8Array | null {
    const key = this.pins.get(username)
    return key === undefined || key === null ? null : fromBase64Url(key, 32)
  }

  /** In a group with us and not a contact: their connection is for group frames only. */
  isGroupOnly(username: string): boolean {
    return this.pins.has(username)
  }

  isMismatched(username: string): boolean {
    return this.mismatched.has(username)
  }

  /**
   * Whether the member's open connection is authenticated with the key the group's signed list
   * gives them. Checked whenever group data is handed out or taken in, whatever the trust store
   * says: a key the server slipped in elsewhere never reaches group secrets.
   */
  authentic(g: LiveGroup, peer: string): boolean {
    const key = this.c.transport.authenticatedKey(peer)
    return key !== undefined && g.chain.lastKeyMatches(peer, key)
  }

  /**
   * Reads the pins again from the active groups' member lists (after any change to them or to a
   * friend's pinned key). A friend the lists give another key is reported when first found.
   */
  async rebuild(): Promise<void> {
    const pins = new Map<string, string | null>()
    const mismatched = new Set<string>()
    for (const g of this.c.groups.values()) {
      if (!g.active) continue
      for (const m of g.chain.members) {
        if (m.id === this.c.me) continue
        const contact = await this.contact(m.id)
        if (contact !== undefined) {
          if (contact.identityKey === m.identityKey) continue
          mismatched.add(m.id)
          if (!this.mismatched.has(m.id))
            this.c.report({
              groupId: g.id,
              code: 'key-mismatch',
              message: `the member list gives ${m.id} another key than the one pinned for them`,
              members: [m.id],
            })
          continue
        }
        const known = pins.get(m.id)
        pins.set(m.id, known === undefined || known === m.identityKey ? m.identityKey : null)
      }
    }
    this.pins = pins
    this.mismatched = mismatched
  }
}
