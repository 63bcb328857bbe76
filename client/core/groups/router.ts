import type { GroupFrame } from '../../../shared/index.ts'
import type { GroupAdmin } from './admin.ts'
import type { GroupContentHandlers, GroupContext } from './context.ts'
import type { GroupDelivery } from './delivery.ts'
import type { LiveGroup } from './group-store.ts'
import type { GroupInbox } from './inbox.ts'
import type { MemberLists } from './member-lists.ts'
import type { GroupSignals } from './signals.ts'
import type { GroupSync } from './sync.ts'

export interface GroupRouterOptions {
  readonly handlers: GroupContentHandlers
  readonly signals: Pick<GroupSignals, 'typingFrom' | 'readBy'>
  readonly sync: Pick<GroupSync, 'onSync'>
  readonly lists: Pick<MemberLists, 'onList'>
  readonly inbox: Pick<GroupInbox, 'onKeys' | 'onMessages'>
  readonly delivery: Pick<GroupDelivery, 'onAck'>
  readonly admin: Pick<GroupAdmin, 'onLeave'>
  /** Whether the member's connection is authenticated with the key the signed list gives them. */
  readonly mayCarry: (peer: string, groupId: string, identityKey: Uint8Array) => boolean
}

/** Group frames from members' connections, to the part that handles each, once the sender is let in. */
export class GroupRouter {
  constructor(
    private readonly c: GroupContext,
    private readonly o: GroupRouterOptions,
  ) {}

  /** A group frame from a member's connection, whose remote side proved `identityKey` (decoded by peer-router.ts). */
  async receive(peer: string, frame: GroupFrame, identityKey: Uint8Array): Promise<void> {
    if (this.c.closed()) return
    await this.c.loaded()
    // Whoever proved another key than the member list's for this member gets nothing, sends nothing.
    if (!this.o.mayCarry(peer, frame.g, identityKey)) return
    // Chunk traffic, typing and reads do not wait behind the group's other work; membership is
    // checked all the same.
    if (
      frame.type === 'group-file-get' ||
      frame.type === 'group-file-ack' ||
      frame.type === 'group-file-stop'
    ) {
      if (await this.admitted(frame.g, peer)) await this.o.handlers.files?.groupControl(peer, frame)
      return
    }
    if (frame.type === 'group-typing') {
      if (await this.admitted(frame.g, peer)) this.o.signals.typingFrom(peer, frame)
      return
    }
    if (frame.type === 'group-read') {
      if (await this.admitted(frame.g, peer)) await this.o.signals.readBy(peer, frame)
      return
    }
    await this.c.run(frame.g, async () => {
      if (this.c.closed()) return
      switch (frame.type) {
        case 'group-sync':
          await this.o.sync.onSync(peer, frame)
          return
        case 'group-list':
          await this.o.lists.onList(peer, frame)
          return
        case 'group-keys': {
          const g = this.letIn(frame.g, peer)
          if (g !== undefined) await this.o.inbox.onKeys(peer, g, frame)
          return
        }
        case 'group-msgs': {
          const g = this.letIn(frame.g, peer)
          if (g !== undefined) await this.o.inbox.onMessages(peer, g, frame)
          return
        }
        case 'group-ack': {
          const g = this.letIn(frame.g, peer)
          if (g !== undefined) await this.o.delivery.onAck(peer, g, frame)
          return
        }
        case 'group-leave':
          await this.o.admin.onLeave(peer, frame)
          return
        default: {
          const unreachable: never = frame
          return unreachable
        }
      }
    })
  }

  private async admitted(groupId: string, peer: string): Promise<boolean> {
    await this.c.loaded()
    return this.letIn(groupId, peer) !== undefined
  }

  /** The group, if `peer` may send us data for it (`admits`). */
  private letIn(groupId: string, peer: string): LiveGroup | undefined {
    const g = this.c.groups.get(groupId)
    return g !== undefined && this.admits(g, peer) ? g : undefined
  }

  /**
   * Whether a member may send us data for the group. A sender not in our list whose last summary
   * named a newer version is probably new: its frames wait for the list (dropped now, synced
   * again after). Anyone else is refused and reported.
   */
  admits(g: LiveGroup, peer: string): boolean {
    if (g.active && g.chain.isMember(peer)) return true
    const theirs = this.c.views.version(peer, g.id)
    if (theirs !== undefined && theirs > g.chain.version) return false
    if (g.active)
      this.c.report({
        groupId: g.id,
        code: 'not-a-member',
        message: `${peer} is not in the signed member list: their group data was refused`,
        peer,
      })
    return false
  }
}
