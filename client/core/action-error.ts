export type MessageActionErrorCode =
  /** No such message on this device (never arrived, deleted, or disappeared). */
  | 'not-found'
  /** Only the author may edit a message or delete it for everyone. */
  | 'not-author'
  /** Only text messages can be edited; timer lines cannot be reacted to, quoted or deleted for everyone. */
  | 'not-editable'
  /** The message was deleted for everyone. */
  | 'deleted'
  /** The friend's key changed and has not been accepted: nothing can be sent to them. */
  | 'forbidden'
  /** Outside the protocol's limits: empty or too long a text, not one emoji, a timer out of range. */
  | 'invalid'

/** Misuse of the message-action API (a message that is not there or not the user's); a friend's refused change is an event. */
export class MessageActionError extends Error {
  override readonly name = 'MessageActionError'
  constructor(
    readonly code: MessageActionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }

  static is(e: unknown, code?: MessageActionErrorCode): e is MessageActionError {
    return e instanceof MessageActionError && (code === undefined || e.code === code)
  }
}
