import { notAcceptedText } from './trust.ts'
import { decodePeerMessage, type MessageActionMessage } from '../../shared/index.ts'
import {
  isFriendRefusal,
  MessageActionError,
  type FriendRefusal,
  type MessageActionErrorCode,
} from './action-error.ts'
import { Emitter } from './emitter.ts'
import { groupConversationId, groupOfConversation } from './groups/types.ts'
import { newMessageId, type Messenger } from './messenger.ts'
import { ownQuote } from './quotes.ts'
import { plausibleSentAt } from './sender-time.ts'
import type { OutboxRecord } from './store/db.ts'
import {
  directConversationId,
  peerOfConversation,
  type ChangeBy,
  type ChangeOutcome,
  type ChangeRefusal,
  type History,
  type Message,
  type RemovedMessage,
} from './store/history.ts'

export { MessageActionError, type MessageActionErrorCode } from './action-error.ts'

export interface MessageActionEvents extends Record<string, unknown> {
  /** A stored message changed: edited, reacted to, deleted for everyone, or its quote cleared. */
  'message-updated': Message
  /** A message left this device: deleted for me, or its disappearing timer ran out. */
  'message-removed': RemovedMessage
  /** A friend's change that was not theirs to make (editing or deleting someone else's message). */
  refused: { peer: string; code: FriendRefusal; message: string }
}

/** What happens to a deleted or disappeared file message's transfer (see files/transfers.ts `forget`). */
export interface ActionFiles {
  forget(fileId: string): Promise<void>
}

export interface MessageActionsOptions {
  readonly me: string
  readonly history: History
  readonly messenger: Pick<Messenger, 'nextTimestamp' | 'sendWritten'>
  /** Whether sending to this friend is allowed now (pinned key, no unaccepted change). */
  readonly canSend: (peer: string) => Promise<boolean>
  readonly files?: ActionFiles
  /** Changes to group messages travel as group messages (groups/groups.ts). */
  readonly groups?: ActionGroups
  readonly now?: () => number
}

/** What changes to group messages need from the group layer. */
export interface ActionGroups {
  /** Whether this user may post in the group now. */
  canPost(groupId: string): boolean
  /** Sends a change as a group message: encrypted once with our sender key, signed, kept for catch-up. */
  postChange(groupId: string, frame: MessageActionMessage): Promise<void>
}

const localError: Record<ChangeRefusal, MessageActionErrorCode> = {
  'not-found': 'not-found',
  'wrong-conversation': 'not-found',
  'not-author': 'not-author',
  'not-editable': 'not-editable',
  deleted: 'deleted',
  // Only a second delete for everyone is stale for our own clock.
  stale: 'deleted',
}

/** Why every member would refuse our change to a group message, if they would (history.ts applies the same rules). */
function groupRefusal(target: Message, frame: MessageActionMessage, me: string): ChangeRefusal | undefined {
  if (frame.type !== 'reaction' && target.author !== me) return 'not-author'
  if (target.content.deleted === true) return 'deleted'
  if (target.type === 'timer' || (frame.type === 'edit' && target.type !== 'text')) return 'not-editable'
  return undefined
}

/** Changes to group messages that came before the message itself, kept for this many messages. */
const maxEarlyTargets = 500

/**
 * Reactions, edits and deletions of messages already sent. Each is applied here and written to
 * the outbox in one transaction, then goes to the friend like a message (in order, resent until
 * acknowledged); the friend applies it only if it is the author's to make and newer than what is
 * stored, so repeats change nothing. See docs/PROTOCOL.md §4.
 */
export class MessageActions extends Emitter<MessageActionEvents> {
  /** Per message id: changes from a group that came before the message (oldest targets go first). */
  private readonly early = new Map<string, { who: ChangeBy; frame: MessageActionMessage }[]>()
  private readonly now: () => number

  constructor(private readonly o: MessageActionsOptions) {
    super()
    this.now = o.now ?? Date.now
  }

  /**
   * Sets the user's reaction to a message (replacing theirs, if any); '' removes it.
   * @throws MessageActionError 'not-found', 'deleted', 'not-editable' (a timer line), 'forbidden', 'invalid'.
   */
  react(messageId: string, emoji: string): Promise<Message> {
    return this.act(
      messageId,
      (of, ts) => ({ type: 'reaction', id: newMessageId(), ts, of, emoji }),
      (who, entry) => this.o.history.react(messageId, emoji, who, entry),
    )
  }

  /**
   * Replaces the text of one of the user's own text messages, on both devices.
   * @throws MessageActionError 'not-found', 'not-author', 'not-editable', 'deleted', 'forbidden', 'invalid'.
   */
  edit(messageId: string, text: string): Promise<Message> {
    return this.act(
      messageId,
      (of, ts) => ({ type: 'edit', id: newMessageId(), ts, of, text }),
      (who, entry) => this.o.history.edit(messageId, text, who, entry),
    )
  }

  /**
   * Deletes one of the user's own messages on both devices: each keeps a "deleted" marker, and the
   * text, file data, search tokens and quotes of it go.
   * @throws MessageActionError 'not-found', 'not-author', 'not-editable', 'deleted', 'forbidden'.
   */
  deleteForEveryone(messageId: string): Promise<Message> {
    return this.act(
      messageId,
      (of, ts) => ({ type: 'delete', id: newMessageId(), ts, of }),
      (who, entry) => this.o.history.deleteForEveryone(messageId, who, entry),
    )
  }

  /** Removes a message from this device only; false if it was not there. */
  async deleteForMe(messageId: string): Promise<boolean> {
    const out = await this.o.history.remove(messageId)
    await this.removed({ removed: out.removed === undefined ? [] : [out.removed], updated: out.updated })
    return out.removed !== undefined
  }

  /** Reports messages that left the history, and drops their file transfers. */
  async removed(out: { removed: readonly RemovedMessage[]; updated: readonly Message[] }): Promise<void> {
    for (const r of out.removed) {
      if (r.fileId !== undefined) await this.o.files?.forget(r.fileId)
      this.emit('message-removed', r)
    }
    for (const m of out.updated) this.emit('message-updated', m)
  }

  private async act(
    messageId: string,
    frameOf: (of: string, ts: number) => MessageActionMessage,
    change: (who: ChangeBy, entry?: OutboxRecord) => Promise<ChangeOutcome>,
  ): Promise<Message> {
    const target = await this.o.history.get(messageId)
    if (target === undefined) throw new MessageActionError('not-found', 'no such message')
    const deliver = await this.routeOf(target)
    const ts = this.o.messenger.nextTimestamp()
    const frame = frameOf(messageId, ts)
    const checked = decodePeerMessage(frame)
    if (!checked.ok)
      throw new MessageActionError(
        'invalid',
        `not a valid ${frame.type}: ${'path' in checked ? checked.path : ''}`,
      )
    const who: ChangeBy = { by: this.o.me, conversationId: target.conversationId, at: ts }
    const outcome = await deliver(frame, (entry) => change(who, entry))
    if (!outcome.ok)
      throw new MessageActionError(
        localError[outcome.reason],
        `cannot ${frame.type} this message: ${outcome.reason}`,
      )
    await this.applied(outcome)
    return outcome.message
  }

  /**
   * How a change reaches the others, checked before anything changes: to a friend through the
   * outbox, written in the same transaction as the change; in a group as a group message (kept
   * for members who catch up later, like any other), sent before it is applied here — with no
   * outbox behind it, a change shown here but never sent would be worse than one not shown.
   * @throws MessageActionError 'not-found' (not a conversation this user can write to), 'forbidden'
   * (a friend whose key is not accepted), 'not-member' (a group the user is no longer in).
   */
  private async routeOf(
    target: Message,
  ): Promise<
    (
      frame: MessageActionMessage,
      apply: (entry?: OutboxRecord) => Promise<ChangeOutcome>,
    ) => Promise<ChangeOutcome>
  > {
    const groupId = groupOfConversation(target.conversationId)
    if (groupId !== undefined) {
      const groups = this.o.groups
      if (groups?.canPost(groupId) !== true)
        throw new MessageActionError('not-member', 'you are no longer in this group')
      return async (frame, apply) => {
        // The rules every member applies (history.ts), checked before anything leaves.
        const refusal = groupRefusal(target, frame, this.o.me)
        if (refusal !== undefined) return { ok: false, reason: refusal }
        await groups.postChange(groupId, frame)
        return apply()
      }
    }
    const peer = peerOfConversation(target.conversationId)
    if (peer === undefined)
      throw new MessageActionError('not-found', 'no such message in a conversation with a friend')
    if (!(await this.o.canSend(peer))) throw new MessageActionError('forbidden', notAcceptedText(peer))
    return async (frame, apply) => {
      let outcome = { ok: false, reason: 'not-found' } as ChangeOutcome
      await this.o.messenger.sendWritten(peer, frame, async (entry) => {
        outcome = await apply(entry)
        return outcome.ok
      })
      return outcome
    }
  }

  /**
   * The time someone else's change is ordered by (and an edit shown with): theirs, unless it is
   * implausibly far ahead (sender-time.ts). A change dated in 2286 would otherwise outrank every
   * later one of the same kind.
   */
  private changedAt(frame: MessageActionMessage): number {
    return plausibleSentAt(frame.ts, this.now())
  }

  /** A reaction, edit or deletion from a friend (routed here by peer-router.ts). */
  async receive(peer: string, frame: MessageActionMessage): Promise<void> {
    const who: ChangeBy = { by: peer, conversationId: directConversationId(peer), at: this.changedAt(frame) }
    await this.apply(who, frame)
  }

  /**
   * A change from a group message, by `author` (whose signature the group layer verified): a
   * reaction from any member; an edit or a delete only of the author's own message.
   */
  async receiveGroup(groupId: string, author: string, frame: MessageActionMessage): Promise<void> {
    const who: ChangeBy = {
      by: author,
      conversationId: groupConversationId(groupId),
      at: this.changedAt(frame),
    }
    if ((await this.apply(who, frame)) !== 'not-found') return
    // In a group a change can overtake its message (another sender's tree, a gap being repaired):
    // it waits for the message, and is applied when that is stored (`groupMessageStored`).
    const waiting = this.early.get(frame.of) ?? []
    waiting.push({ who, frame })
    this.early.set(frame.of, waiting)
    if (this.early.size > maxEarlyTargets) this.early.delete(this.early.keys().next().value as string)
  }

  /**
   * A group message was stored: replies that overtook it quote it now, and changes that came
   * before it are applied, in the order they came.
   */
  async groupMessageStored(message: Message): Promise<void> {
    for (const reply of await this.o.history.fillMissingQuotes(message, ownQuote(message)))
      this.emit('message-updated', reply)
    const waiting = this.early.get(message.id)
    if (waiting === undefined) return
    this.early.delete(message.id)
    for (const { who, frame } of waiting) await this.apply(who, frame)
  }

  /** Applies a change from someone else; the refusal, if it was refused. */
  private async apply(who: ChangeBy, frame: MessageActionMessage): Promise<ChangeRefusal | undefined> {
    const peer = who.by
    let outcome: ChangeOutcome
    switch (frame.type) {
      case 'reaction':
        outcome = await this.o.history.react(frame.of, frame.emoji, who)
        break
      case 'edit':
        outcome = await this.o.history.edit(frame.of, frame.text, who)
        break
      case 'delete':
        outcome = await this.o.history.deleteForEveryone(frame.of, who)
        break
      default: {
        const unreachable: never = frame
        return unreachable
      }
    }
    if (outcome.ok) {
      await this.applied(outcome)
      return undefined
    }
    if (isFriendRefusal(outcome.reason))
      this.emit('refused', {
        peer,
        code: outcome.reason,
        message: `${peer} sent a ${frame.type} for a message that is not theirs to change (${outcome.reason}); ignored`,
      })
    return outcome.reason
  }

  private async applied(outcome: Extract<ChangeOutcome, { ok: true }>): Promise<void> {
    if (outcome.fileId !== undefined) await this.o.files?.forget(outcome.fileId)
    this.emit('message-updated', outcome.message)
    for (const m of outcome.quotes) this.emit('message-updated', m)
  }
}
