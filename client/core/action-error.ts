import { TincanError } from './errors.ts'
import type { ChangeRefusal } from './store/history.ts'

export const messageActionErrorCodes = [
  /** No such message on this device (never arrived, deleted, or disappeared). */
  'not-found',
  /** Only the author may edit a message or delete it for everyone. */
  'not-author',
  /** Only text messages can be edited; timer lines cannot be reacted to, quoted or deleted for everyone. */
  'not-editable',
  /** The message was deleted for everyone. */
  'deleted',
  /** The friend's key changed and has not been accepted: nothing can be sent to them. */
  'forbidden',
  /** A group message, and the user is no longer in the group. */
  'not-member',
  /** Outside the protocol's limits: empty or too long a text, not one emoji, a timer out of range. */
  'invalid',
] as const
export type MessageActionErrorCode = (typeof messageActionErrorCodes)[number]

/** Misuse of the message-action API (a message that is not there or not the user's); a friend's refused change is an event. */
export class MessageActionError extends TincanError<MessageActionErrorCode> {
  override readonly name = 'MessageActionError'
}

/**
 * A friend's change that was not theirs to make (editing or deleting someone else's message, or
 * one of another conversation): refused and reported as a `peer-error`, not just ignored.
 */
export const friendRefusalCodes = [
  'not-author',
  'wrong-conversation',
  'not-editable',
] as const satisfies readonly ChangeRefusal[]
export type FriendRefusal = (typeof friendRefusalCodes)[number]

export function isFriendRefusal(reason: ChangeRefusal): reason is FriendRefusal {
  return (friendRefusalCodes as readonly ChangeRefusal[]).includes(reason)
}
