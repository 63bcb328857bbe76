// Long: sending, the outbox and receipts are one protocol; each frame's fate depends on the others.
import { decryptRecord, encryptRecord, randomBytes, toBase64Url, utf8Encode } from '../../crypto/index.ts'
import type {
  FileControlMessage,
  FileOfferMessage,
  MessageActionMessage,
  PeerMessage,
  ReceiptMessage,
  ReplyQuote,
  TextMessage,
  TimerMessage,
  TypingMessage,
} from '../../shared/index.ts'
import { Emitter } from './emitter.ts'
import { quoteFor, receivedQuote } from './quotes.ts'
import type { Outbox } from './outbox.ts'
import { plausibleSentAt } from './sender-time.ts'
import type { OutboxRecord } from './store/db.ts'
import { directConversationId, type History, type Message, type MessageContent } from './store/history.ts'

/** An encrypted, ordered, reliable pipe to each friend; the peer manager provides it. */
export interface PeerTransport {
  isOpen(peer: string): boolean
  /** Encrypts and sends; false when there is no open session (the caller keeps the message). */
  send(peer: string, plaintext: Uint8Array): Promise<boolean>
  /** Starts connecting if not connected. */
  connect(peer: string): void
}

export interface MessengerEvents extends Record<string, unknown> {
  /** A message was added or changed state. */
  message: Message
  typing: { peer: string; typing: boolean }
}

/** What the file transfers do with a friend's file offer (see files/transfers.ts). */
export interface FileOfferHandler {
  /**
   * Checks and records an offer before its history message is stored. Returns the message
   * content to store, or undefined to drop the offer.
   */
  offer(peer: string, frame: FileOfferMessage): Promise<{ type: string; content: MessageContent } | undefined>
  /** The offer's message is stored (`isNew` false for a resent duplicate). */
  offerStored(peer: string, frame: FileOfferMessage, isNew: boolean): Promise<void>
}

/** The frames of a conversation the messenger itself handles (the peer router hands it these). */
export type ChatFrame = TextMessage | ReceiptMessage | TypingMessage | TimerMessage

export interface MessengerOptions {
  readonly me: string
  readonly history: History
  readonly outbox: Outbox
  readonly transport: PeerTransport
  readonly vaultKey: Uint8Array
  /** Whether sending to this friend is allowed now (pinned key, no unaccepted change). */
  readonly canSend: (peer: string) => Promise<boolean>
  /** Off: no read receipts are sent, and the friend's read receipts count only as delivered. */
  readonly readReceipts?: () => boolean
  /** Off: no typing indicators are sent, and the friend's are not reported. */
  readonly typingIndicators?: () => boolean
  readonly now?: () => number
}

/** Options of a text message. */
export interface SendTextOptions {
  /** The id of a message of the same conversation that this one answers (quoted in the reply). */
  readonly replyTo?: string
}

/** Frames that wait in the outbox without being history messages themselves. */
export type ReliableMessage = FileControlMessage | MessageActionMessage

/** When a message carrying `expiresAfter` is deleted: that long after it was sent, but never counted from a time later than `receivedAt` (a sender's clock ahead of ours cannot stretch it). */
export function expiryOf(
  sentAt: number,
  expiresAfter: number | undefined,
  receivedAt = sentAt,
): number | undefined {
  return expiresAfter === undefined ? undefined : Math.min(sentAt, receivedAt) + expiresAfter * 1000
}

export { excerptOf } from './quotes.ts'

export const newMessageId = (): string => toBase64Url(randomBytes(16))

const outboxSchema = 1

/**
 * Chat messages over the peer transport: ids, timestamps, delivery and read receipts, an outbox
 * that survives reloads, duplicates dropped by id, and per-friend order kept by sending the
 * outbox oldest first over an ordered channel.
 */
export class Messenger extends Emitter<MessengerEvents> {
  /** Per friend, sends run one after another, so the order written is the order sent. */
  private readonly chains = new Map<string, Promise<void>>()
  /** Ids sent on the friend's current connection: a new connection resends whatever is still unacknowledged. */
  private readonly sentOnConnection = new Map<string, Set<string>>()
  private readonly pendingDelivered = new Map<string, string[]>()
  private readonly pendingSent = new Map<string, string[]>()
  private readonly now: () => number
  private closed = false
  private lastTs = 0
  /** Each conversation's disappearing timer (seconds) as last read: a message need not wait for the read. */
  private readonly timers = new Map<string, number>()
  private timersEpoch = 0

  constructor(private readonly o: MessengerOptions) {
    super()
    this.now = o.now ?? Date.now
  }

  /**
   * Stores the message as queued, puts it in the outbox, and sends it if the friend is connected.
   * With the conversation's disappearing timer on, the message carries it.
   * @throws MessageActionError 'not-found' when `replyTo` names no message of this conversation, 'deleted' when it was deleted.
   */
  async sendText(peer: string, text: string, options: SendTextOptions = {}): Promise<Message> {
    const conversationId = directConversationId(peer)
    const replyTo =
      options.replyTo === undefined ? undefined : await this.quote(conversationId, options.replyTo)
    const expiresAfter = await this.expiresAfter(conversationId)
    const frame: PeerMessage = {
      type: 'text',
      id: newMessageId(),
      ts: this.nextTimestamp(),
      text,
      ...(replyTo === undefined ? {} : { replyTo }),
      ...(expiresAfter === undefined ? {} : { expiresAfter }),
    }
    return this.sendStored(
      peer,
      frame,
      'text',
      replyTo === undefined ? { text } : { text, replyTo },
      expiresAfter,
    )
  }

  private async quote(conversationId: string, id: string): Promise<ReplyQuote> {
    return quoteFor(this.o.history, conversationId, id)
  }

  private async expiresAfter(conversationId: string): Promise<number | undefined> {
    let seconds = this.timers.get(conversationId)
    if (seconds === undefined) {
      const epoch = this.timersEpoch
      seconds = await this.o.history.timer(conversationId)
      // A change made while it was read would be lost: then it is read again next time.
      if (epoch === this.timersEpoch) this.timers.set(conversationId, seconds)
    }
    return seconds > 0 ? seconds : undefined
  }

  /** Timers changed in storage (a restored backup): they are read again. */
  forgetTimers(): void {
    this.timers.clear()
    this.timersEpoch++
  }

  /** A file offer is a history message like a text: queued, kept in the outbox until delivered. */
  async sendFileOffer(
    peer: string,
    offer: Omit<FileOfferMessage, 'ts'>,
    type: string,
    content: MessageContent,
  ): Promise<Message> {
    const expiresAfter = await this.expiresAfter(directConversationId(peer))
    const frame: FileOfferMessage = {
      ...offer,
      ts: this.nextTimestamp(),
      ...(expiresAfter === undefined ? {} : { expiresAfter }),
    }
    return this.sendStored(peer, frame, type, content, expiresAfter)
  }

  /**
   * Sets the conversation's disappearing-message timer (seconds, 0 = off) and tells the friend:
   * a `timer` line in both histories, delivered like a message.
   */
  async sendTimer(peer: string, seconds: number): Promise<Message> {
    const frame: TimerMessage = { type: 'timer', id: newMessageId(), ts: this.nextTimestamp(), seconds }
    const message = await this.sendStored(peer, frame, 'timer', { text: '', timerSeconds: seconds })
    await this.o.history.setTimer(message.conversationId, peer, {
      seconds,
      setAt: frame.ts,
      setBy: this.o.me,
    })
    this.forgetTimers()
    return message
  }

  private async sendStored(
    peer: string,
    frame: PeerMessage,
    type: string,
    content: MessageContent,
    expiresAfter?: number,
  ): Promise<Message> {
    const conversationId = directConversationId(peer)
    const expiresAt = expiryOf(frame.ts, expiresAfter)
    const message: Message = {
      id: frame.id,
      conversationId,
      author: this.o.me,
      sentAt: frame.ts,
      receivedAt: frame.ts,
      type,
      state: 'queued',
      content,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    }
    const plaintext = utf8Encode(JSON.stringify(frame))
    // Shown at once (`queued`: "sending") and sent while it is stored: the frame need not wait for
    // the transaction. It is marked `sent` only once it is both stored here (so it survives a
    // reload, in the outbox) and handed to the connection; the friend's `delivered` receipt comes
    // only after its own write, and IndexedDB applies our later transactions (the receipt's)
    // after this one.
    const stored = this.o.history.add(message, {
      incoming: false,
      peer,
      outbox: {
        id: frame.id,
        to: peer,
        conversationId,
        queuedAt: frame.ts,
        payload: encryptRecord(
          this.o.vaultKey,
          { store: 'outbox', id: frame.id, schemaVersion: outboxSchema },
          plaintext,
        ),
        attempts: 0,
      },
    })
    this.emit('message', message)
    if (this.o.transport.isOpen(peer))
      void this.enqueue(peer, async () => void (await this.sendQueued(peer, frame.id, plaintext, stored)))
    else this.o.transport.connect(peer)
    try {
      await stored
    } catch (e: unknown) {
      // Not stored (the quota, say): shown as failed; it may have reached the friend already.
      this.emit('message', { ...message, state: 'failed' })
      throw e
    }
    return message
  }

  /**
   * A message that must reach the friend but is not part of the history (a file transfer
   * decision): kept in the outbox, in order with the chat, until the friend's device confirms it.
   */
  async sendReliable(peer: string, frame: ReliableMessage): Promise<void> {
    await this.sendWritten(peer, frame, async (entry) => {
      await this.o.outbox.put(entry)
      return true
    })
  }

  /**
   * Like `sendReliable`, but `write` stores the outbox entry itself, in the same transaction as
   * the change it carries (a reaction, an edit), and says whether it did; nothing is sent if not.
   */
  async sendWritten(
    peer: string,
    frame: ReliableMessage,
    write: (entry: OutboxRecord) => Promise<boolean>,
  ): Promise<boolean> {
    const plaintext = utf8Encode(JSON.stringify(frame))
    const written = await write({
      id: frame.id,
      to: peer,
      conversationId: directConversationId(peer),
      queuedAt: this.nextTimestamp(),
      payload: encryptRecord(
        this.o.vaultKey,
        { store: 'outbox', id: frame.id, schemaVersion: outboxSchema },
        plaintext,
      ),
      attempts: 0,
    })
    if (!written) return false
    if (this.o.transport.isOpen(peer))
      void this.enqueue(peer, async () => void (await this.sendQueued(peer, frame.id, plaintext)))
    else this.o.transport.connect(peer)
    return true
  }

  /** Sent now on the open connection, or not at all (false): the caller repeats it when needed. */
  async sendEphemeral(peer: string, frame: FileControlMessage): Promise<boolean> {
    if (!this.o.transport.isOpen(peer) || !(await this.o.canSend(peer))) return false
    return this.sendFrame(peer, frame)
  }

  private enqueue(peer: string, task: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(peer) ?? Promise.resolve()).then(task).catch((e: unknown) => this.report(e))
    this.chains.set(peer, next)
    void next.then(() => {
      if (this.chains.get(peer) === next) this.chains.delete(peer)
    })
    return next
  }

  /**
   * Sends one outbox entry on the current connection, once; false when the connection is gone.
   * `stored`: the entry's write, when it may still be running; `sent` waits for it.
   */
  private async sendQueued(
    peer: string,
    id: string,
    plaintext: Uint8Array,
    stored?: Promise<unknown>,
  ): Promise<boolean> {
    const sent = this.sentOnConnection.get(peer) ?? new Set<string>()
    this.sentOnConnection.set(peer, sent)
    if (sent.has(id)) return true
    if (this.closed || !(await this.o.canSend(peer))) return false
    if (!(await this.o.transport.send(peer, plaintext))) return false
    sent.add(id)
    if (stored === undefined) this.markSent(peer, id)
    else
      stored.then(
        () => this.markSent(peer, id),
        () => undefined,
      )
    return true
  }

  /** Strictly increasing, so two messages written in the same millisecond keep their order. */
  nextTimestamp(): number {
    this.lastTs = Math.max(this.now(), this.lastTs + 1)
    return this.lastTs
  }

  private report(e: unknown): void {
    if (!this.closed) console.error('messaging failed', e)
  }

  /** Stops all work: nothing is sent or stored after this. */
  close(): void {
    this.closed = true
  }

  /** Ephemeral: not stored, not retried. Nothing is sent while typing indicators are off. */
  async sendTyping(peer: string, typing: boolean): Promise<void> {
    if (!this.typingOn() || !this.o.transport.isOpen(peer) || !(await this.o.canSend(peer))) return
    await this.sendFrame(peer, { type: 'typing', id: newMessageId(), ts: this.now(), typing })
  }

  /** Marks a conversation's incoming messages read, and tells the friend if read receipts are on. */
  async markRead(peer: string): Promise<void> {
    const unread = await this.o.history.markRead(directConversationId(peer), this.o.me)
    if (unread.length > 0 && this.readReceiptsOn()) {
      await this.sendFrame(peer, {
        type: 'receipt',
        id: newMessageId(),
        ts: this.now(),
        status: 'read',
        of: unread.map((m) => m.id),
      })
    }
  }

  private readReceiptsOn(): boolean {
    return this.o.readReceipts?.() ?? true
  }

  private typingOn(): boolean {
    return this.o.typingIndicators?.() ?? true
  }

  /** A new connection to the friend is open: everything unacknowledged goes out again, oldest first. */
  connectionOpened(peer: string): Promise<void> {
    this.sentOnConnection.set(peer, new Set())
    return this.flush(peer)
  }

  /** Sends everything queued for the friend, oldest first, or starts connecting. */
  flush(peer: string): Promise<void> {
    return this.enqueue(peer, async () => {
      if (this.closed || !(await this.o.canSend(peer))) return
      const entries = await this.o.outbox.forPeer(peer)
      if (entries.length === 0) return
      if (!this.o.transport.isOpen(peer)) {
        this.o.transport.connect(peer)
        return
      }
      for (const entry of entries) {
        const plaintext = decryptRecord(
          this.o.vaultKey,
          { store: 'outbox', id: entry.id, schemaVersion: outboxSchema },
          entry.payload,
        )
        if (!(await this.sendQueued(peer, entry.id, plaintext))) return
      }
    })
  }

  /** Everyone with something waiting: called when the connection to the server comes back. */
  async flushAll(): Promise<void> {
    await Promise.all((await this.o.outbox.peers()).map((p) => this.flush(p)))
  }

  private async sendFrame(peer: string, frame: PeerMessage): Promise<boolean> {
    if (this.closed) return false
    return this.o.transport.send(peer, utf8Encode(JSON.stringify(frame)))
  }

  /** A chat frame from a friend, already decoded and checked by the peer router (peer-router.ts). */
  async receive(peer: string, frame: ChatFrame): Promise<void> {
    if (this.closed) return
    switch (frame.type) {
      case 'text':
        await this.onText(peer, frame)
        return
      case 'receipt':
        await this.onReceipt(peer, frame)
        return
      case 'typing':
        if (this.typingOn()) this.emit('typing', { peer, typing: frame.typing })
        return
      case 'timer':
        await this.onTimer(peer, frame)
        return
      default: {
        const unreachable: never = frame
        return unreachable
      }
    }
  }

  private async onText(peer: string, frame: TextMessage): Promise<void> {
    const receivedAt = this.now()
    const sentAt = plausibleSentAt(frame.ts, receivedAt)
    const expiresAt = expiryOf(sentAt, frame.expiresAfter, receivedAt)
    // Already past its time (the friend's device held it while we were away): never stored.
    if (expiresAt === undefined || expiresAt > receivedAt) {
      const conversationId = directConversationId(peer)
      const replyTo =
        frame.replyTo === undefined
          ? undefined
          : await receivedQuote(this.o.history, conversationId, frame.replyTo)
      const message: Message = {
        id: frame.id,
        conversationId,
        author: peer,
        sentAt,
        receivedAt,
        type: 'text',
        state: 'received',
        content: replyTo === undefined ? { text: frame.text } : { text: frame.text, replyTo },
        ...(expiresAt === undefined ? {} : { expiresAt }),
      }
      // Shown as soon as the write has found no message with this id, before it commits; the
      // receipt goes only after the commit. A crash in between: the sender still has it in its
      // outbox, sends it again, and it is stored (and shown) once.
      await this.o.history.add(message, { incoming: true, peer, isNew: () => this.emit('message', message) })
    }
    // Acknowledge duplicates too: the first receipt may have been lost with the connection.
    this.acknowledge(peer, frame.id)
  }

  private async onTimer(peer: string, frame: TimerMessage): Promise<void> {
    const receivedAt = this.now()
    // Also the time the change is ordered by: a timer set "in 2286" would outrank every later change.
    const sentAt = plausibleSentAt(frame.ts, receivedAt)
    const message: Message = {
      id: frame.id,
      conversationId: directConversationId(peer),
      author: peer,
      sentAt,
      receivedAt,
      type: 'timer',
      state: 'received',
      content: { text: '', timerSeconds: frame.seconds },
    }
    // A line in the history, not an unread message.
    if (await this.o.history.add(message, { incoming: false, peer })) {
      await this.o.history.setTimer(message.conversationId, peer, {
        seconds: frame.seconds,
        setAt: sentAt,
        setBy: peer,
      })
      this.forgetTimers()
      this.emit('message', message)
    }
    this.acknowledge(peer, frame.id)
  }

  /** A friend's file offer: `files` records it, then its message is stored like any other. */
  async receiveFileOffer(peer: string, frame: FileOfferMessage, files: FileOfferHandler): Promise<void> {
    if (this.closed) return
    const receivedAt = this.now()
    const sentAt = plausibleSentAt(frame.ts, receivedAt)
    const expiresAt = expiryOf(sentAt, frame.expiresAfter, receivedAt)
    if (expiresAt !== undefined && expiresAt <= receivedAt) {
      this.acknowledge(peer, frame.id)
      return
    }
    const described = await files.offer(peer, frame)
    if (described === undefined) return
    const message: Message = {
      id: frame.id,
      conversationId: directConversationId(peer),
      author: peer,
      sentAt,
      receivedAt,
      type: described.type,
      state: 'received',
      content: described.content,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    }
    const isNew = await this.o.history.add(message, { incoming: true, peer })
    if (isNew) this.emit('message', message)
    await files.offerStored(peer, frame, isNew)
    this.acknowledge(peer, frame.id)
  }

  /**
   * Confirms a frame from the friend's outbox (a message, or a reaction, edit, delete or file
   * answer), even when it was repeated or refused, so it leaves there.
   */
  acknowledge(peer: string, id: string): void {
    const ids = this.pendingDelivered.get(peer)
    if (ids !== undefined) {
      ids.push(id)
      return
    }
    this.pendingDelivered.set(peer, [id])
    // Batch the receipts for a burst of messages into one frame.
    setTimeout(() => {
      if (this.closed) return
      const batch = this.pendingDelivered.get(peer) ?? []
      this.pendingDelivered.delete(peer)
      for (let i = 0; i < batch.length; i += 512)
        this.sendFrame(peer, {
          type: 'receipt',
          id: newMessageId(),
          ts: this.now(),
          status: 'delivered',
          of: batch.slice(i, i + 512),
        }).catch((e: unknown) => this.report(e))
    }, 10)
  }

  /**
   * Receipts count only for our own messages in the conversation with that friend. With read
   * receipts off, a friend's read receipt counts as delivered only (as in Signal: who does not
   * send them does not see them).
   */
  private async onReceipt(peer: string, frame: ReceiptMessage): Promise<void> {
    const status = frame.status === 'read' && !this.readReceiptsOn() ? 'delivered' : frame.status
    const changed = await this.o.history.advance(frame.of, status, {
      conversationId: directConversationId(peer),
      author: this.o.me,
    })
    for (const m of changed) this.emit('message', m)
  }

  /** Marks sent messages in batches: bookkeeping that must not cost a transaction per message. */
  private markSent(peer: string, id: string): void {
    const ids = this.pendingSent.get(peer)
    if (ids !== undefined) {
      ids.push(id)
      return
    }
    this.pendingSent.set(peer, [id])
    setTimeout(() => {
      const batch = this.pendingSent.get(peer) ?? []
      this.pendingSent.delete(peer)
      if (this.closed) return
      this.o.history
        .advance(batch, 'sent', { conversationId: directConversationId(peer), author: this.o.me })
        .then(
          (changed) => {
            for (const m of changed) this.emit('message', m)
          },
          (e: unknown) => this.report(e),
        )
    }, 20)
  }
}
