import {
  randomBytes,
  toBase64Url,
  utf8Encode,
  type GroupMessageHeader,
  type GroupSender,
} from '../../../crypto/index.ts'
import type { GroupContent } from '../../../shared/index.ts'
import type { History, Message, MessageContent } from '../store/history.ts'
import { keptCopies, type GroupContext } from './context.ts'
import type { GroupDelivery } from './delivery.ts'
import type { CopyRow } from './group-db.ts'
import { chainId, type LiveGroup } from './group-store.ts'
import type { GroupLinks } from './links.ts'
import type { SenderKeys } from './sender-keys.ts'
import { GroupError } from './errors.ts'
import { groupConversationId } from './types.ts'

const newMessageId = (): string => toBase64Url(randomBytes(16))

export interface MessageRelayOptions {
  readonly history: History
  /** Strictly increasing message timestamps, shared with one-to-one chat. */
  readonly nextTimestamp: () => number
  readonly keys: Pick<SenderKeys, 'rotate'>
  readonly delivery: Pick<GroupDelivery, 'track'>
  readonly links: Pick<GroupLinks, 'openMembers' | 'parentsFor' | 'connect'>
  /** The group had traffic (anti-entropy compares its summaries in the next round). */
  readonly traffic: (groupId: string) => void
  readonly onMessage: (m: Message) => void
}

/** Group messages on their way out: ours, encrypted once and sent, and others' passed on down the tree. */
export class MessageRelay {
  constructor(
    private readonly c: GroupContext,
    private readonly o: MessageRelayOptions,
  ) {}

  /**
   * Encrypts once with our sender key, signs, stores and sends a group message. `stored` is what
   * the history keeps of it; a change to another message (a reaction, an edit, a delete) keeps
   * nothing of its own (`undefined`), only its ciphertext for members who catch up.
   */
  async post(
    groupId: string,
    make: (id: string, ts: number) => GroupContent,
    stored: { readonly type: string; readonly content: MessageContent } | undefined,
    id: string = newMessageId(),
  ): Promise<Message | undefined> {
    return this.c.run(groupId, async () => {
      const { me, store } = this.c
      const g = this.c.groups.get(groupId)
      if (g === undefined) throw new GroupError('not-found', 'no such group')
      if (!g.active) throw new GroupError('not-member', 'you are no longer in this group')
      if (g.sender === undefined || g.sender.needsRotation(this.c.now())) await this.o.keys.rotate(g)
      const sender = g.sender as GroupSender
      const ts = this.o.nextTimestamp()
      const content = make(id, ts)
      const iteration = sender.iteration
      const ct = sender.encrypt(utf8Encode(JSON.stringify(content)))
      const h = { sender: me, epoch: sender.epoch, iteration }
      g.holdings.get(h.sender, h.epoch)?.held.add(iteration)
      const copy: CopyRow = { groupId, seq: g.nextSeq++, ...h, ct, messageId: content.id }
      // The sending chain is stored before anything encrypted with it leaves.
      await store.save(g, { sender: true, chains: [chainId(h.sender, h.epoch)], copies: [copy] })
      if (g.nextSeq % 500 === 0) await store.pruneCopies(groupId, g.nextSeq, keptCopies)
      if (stored === undefined) {
        this.o.traffic(groupId)
        this.forward(g, h, ct, undefined)
        return undefined
      }
      const message: Message = {
        id: content.id,
        conversationId: groupConversationId(groupId),
        author: me,
        sentAt: ts,
        receivedAt: ts,
        type: stored.type,
        state: 'queued',
        content: stored.content,
      }
      await this.o.history.add(message, { incoming: false, kind: 'group', peer: groupId })
      this.o.delivery.track(groupId, h, content.id)
      this.o.onMessage(message)
      this.o.traffic(groupId)
      this.forward(g, h, ct, undefined)
      return message
    })
  }

  /**
   * Passes a message on along the origin's forwarding tree (overlay.ts): to the connected
   * members whose parent we are, and to connected members outside the tree. A child that is not
   * connected is called, and gets it in the summary exchange. When the origin is not online as
   * far as we know, there is no tree and every connected member who may lack it gets it.
   * Duplicates are dropped by their position in the sender's chain.
   */
  forward(g: LiveGroup, h: GroupMessageHeader, ct: Uint8Array, except: string | undefined): void {
    const listVersion = g.holdings.get(h.sender, h.epoch)?.listVersion
    if (listVersion === undefined) return
    const parents = this.o.links.parentsFor(g, h.sender)
    let encoded: string | undefined
    for (const p of this.o.links.openMembers(g, except)) {
      if (p === h.sender || !g.chain.isMember(p, listVersion)) continue
      const parent = parents.get(p)
      if (parent !== undefined && parent !== this.c.me) continue
      const view = this.c.views.of(p, g.id)
      if (!view.needs(h.sender, h.epoch, h.iteration)) continue
      view.got(h.sender, h.epoch, h.iteration)
      encoded ??= toBase64Url(ct)
      this.c.out.message(p, g.id, encoded)
    }
    for (const [child, parent] of parents) if (parent === this.c.me) this.o.links.connect(child)
  }
}
