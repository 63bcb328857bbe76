import {
  CryptoError,
  fromBase64Url,
  groupMessageHeader,
  utf8Decode,
  type GroupMessageHeader,
} from '../../../crypto/index.ts'
import { decodeGroupContent, type GroupKeysFrame, type GroupMessagesFrame } from '../../../shared/index.ts'
import type { History, Message } from '../store/history.ts'
import { receivedQuote } from '../quotes.ts'
import { plausibleSentAt } from '../sender-time.ts'
import { keptCopies, type GroupContentHandlers, type GroupContext } from './context.ts'
import type { CopyRow } from './group-db.ts'
import { chainId, type LiveGroup } from './group-store.ts'
import type { MessageRelay } from './relay.ts'
import type { SenderKeys } from './sender-keys.ts'
import type { GroupSync } from './sync.ts'
import { groupConversationId } from './types.ts'

/** Messages waiting for a sender key not here yet, per group. */
const maxParked = 2000

export interface GroupInboxOptions {
  readonly history: History
  readonly handlers: GroupContentHandlers
  readonly keys: Pick<SenderKeys, 'install' | 'forward'>
  readonly relay: Pick<MessageRelay, 'forward'>
  readonly sync: Pick<GroupSync, 'sendSync' | 'repairSoon' | 'traffic' | 'progress'>
  readonly onMessage: (m: Message) => void
}

/**
 * Sender keys and messages from members (already let in): keys are installed and passed on;
 * messages are verified, decrypted, stored and passed on, or wait for their sender's key.
 */
export class GroupInbox {
  /** Per group and epoch: messages that arrived before their sender key. */
  private readonly parked = new Map<string, Map<string, { bytes: Uint8Array; from: string }[]>>()

  constructor(
    private readonly c: GroupContext,
    private readonly o: GroupInboxOptions,
  ) {}

  /** This user is out of the group: what waited for a key goes. */
  forget(groupId: string): void {
    this.parked.delete(groupId)
  }

  async onKeys(peer: string, g: LiveGroup, f: GroupKeysFrame): Promise<void> {
    for (const key of await this.o.keys.install(peer, g, f)) {
      this.o.keys.forward(g, key, peer)
      const waiting = this.parked.get(g.id)?.get(chainId(key.sender, key.epoch))
      if (waiting !== undefined) {
        this.parked.get(g.id)?.delete(chainId(key.sender, key.epoch))
        for (const w of waiting) await this.readMessages(g, w.from, [w.bytes])
      }
    }
  }

  async onMessages(peer: string, g: LiveGroup, f: GroupMessagesFrame): Promise<void> {
    const messages: Uint8Array[] = []
    for (const m of f.m) {
      try {
        messages.push(fromBase64Url(m))
      } catch {
        // not base64url: dropped
      }
    }
    await this.readMessages(g, peer, messages)
  }

  /** Verifies, decrypts, stores and passes on new messages; duplicates are only acknowledged. */
  private async readMessages(g: LiveGroup, peer: string, messages: readonly Uint8Array[]): Promise<void> {
    const out = this.c.out
    const sync = this.o.sync
    const view = this.c.views.of(peer, g.id)
    const dirty = new Set<string>()
    const copies: CopyRow[] = []
    let missingKey = false
    for (const bytes of messages) {
      let h: GroupMessageHeader
      try {
        h = groupMessageHeader(bytes)
      } catch {
        this.reportForged(g, peer, undefined, 'unreadable header')
        continue
      }
      view.got(h.sender, h.epoch, h.iteration)
      if (g.holdings.has(h.sender, h.epoch, h.iteration)) {
        // Acknowledgements go to the sender only: they make its message `sent` and `delivered`.
        if (peer === h.sender) out.ack(peer, g.id, h.sender, h.epoch, h.iteration)
        continue
      }
      if (h.sender === this.c.me || !g.chain.isMember(h.sender)) continue
      const id = chainId(h.sender, h.epoch)
      const receiver = g.receivers.get(id)
      const holding = g.holdings.get(h.sender, h.epoch)
      if (receiver === undefined || holding === undefined) {
        this.park(g, id, bytes, peer)
        missingKey = true
        continue
      }
      let plaintext: Uint8Array
      try {
        plaintext = receiver.decrypt(bytes).plaintext
      } catch (e: unknown) {
        if (CryptoError.is(e, 'replay')) holding.held.add(h.iteration)
        else if (!CryptoError.is(e, 'too-far-ahead')) this.reportForged(g, peer, h.sender, String(e))
        continue
      }
      holding.held.add(h.iteration)
      dirty.add(id)
      copies.push({ groupId: g.id, seq: g.nextSeq++, ...h, ct: bytes })
      sync.traffic(g.id)
      sync.progress(g.id)
      if (peer === h.sender) out.ack(peer, g.id, h.sender, h.epoch, h.iteration)
      if (holding.held.contiguous < h.iteration) sync.repairSoon(g, peer)
      let content
      try {
        content = decodeGroupContent(JSON.parse(utf8Decode(plaintext)) as unknown)
      } catch {
        continue
      }
      // Passed on as it came, whatever we make of it: other members may read more types.
      this.o.relay.forward(g, h, bytes, peer)
      if (!content.ok) continue
      const value = content.value
      if (value.type === 'reaction' || value.type === 'edit' || value.type === 'delete') {
        await this.o.handlers.actions?.receiveGroup(g.id, h.sender, value)
        continue
      }
      const conversationId = groupConversationId(g.id)
      const described =
        value.type === 'text'
          ? {
              type: 'text',
              content:
                value.replyTo === undefined
                  ? { text: value.text }
                  : {
                      text: value.text,
                      replyTo: await receivedQuote(this.o.history, conversationId, value.replyTo),
                    },
            }
          : await this.o.handlers.files?.groupOffer(g.id, h.sender, value)
      if (described === undefined) continue
      const receivedAt = this.c.now()
      const message: Message = {
        id: value.id,
        conversationId,
        author: h.sender,
        sentAt: plausibleSentAt(value.ts, receivedAt),
        receivedAt,
        type: described.type,
        state: 'received',
        content: described.content,
      }
      const isNew = await this.o.history.add(message, { incoming: true, kind: 'group', peer: g.id })
      if (isNew) {
        this.o.onMessage(message)
        await this.o.handlers.actions?.groupMessageStored(message)
      }
      if (value.type === 'file-offer') await this.o.handlers.files?.offerStored(undefined, value, isNew)
    }
    if (dirty.size > 0 || copies.length > 0) await this.c.store.save(g, { chains: dirty, copies })
    if (copies.length > 0 && Math.floor(g.nextSeq / 500) !== Math.floor((g.nextSeq - copies.length) / 500))
      await this.c.store.pruneCopies(g.id, g.nextSeq, keptCopies)
    // Their summary said they had the key, or they would have sent it first: ask again.
    if (missingKey) sync.sendSync(peer, g)
  }

  private reportForged(g: LiveGroup, peer: string, sender: string | undefined, why: string): void {
    this.c.report({
      groupId: g.id,
      code: 'forged-message',
      message: `a group message${sender === undefined ? '' : ` from ${sender}`} relayed by ${peer} does not verify (${why}): dropped`,
      peer,
    })
  }

  private park(g: LiveGroup, id: string, bytes: Uint8Array, from: string): void {
    let byChain = this.parked.get(g.id)
    if (byChain === undefined) {
      byChain = new Map()
      this.parked.set(g.id, byChain)
    }
    let total = 0
    for (const list of byChain.values()) total += list.length
    if (total >= maxParked) return
    const list = byChain.get(id) ?? []
    list.push({ bytes, from })
    byChain.set(id, list)
  }
}
