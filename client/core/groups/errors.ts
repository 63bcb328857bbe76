export type GroupErrorCode =
  /** No such group on this device (never verified, or not one the user is in). */
  | 'not-found'
  /** Only the group's admin signs member lists: adding, removing and renaming are theirs. */
  | 'not-admin'
  /** The user is no longer in the group (removed, or left). */
  | 'not-member'
  /** Members are added from friends, whose keys are pinned and accepted. */
  | 'not-friend'
  /** The admin signs every change, so they cannot leave while others remain. */
  | 'admin-cannot-leave'
  /** Over the group size limit. */
  | 'too-many'
  /** Outside the protocol's limits (empty or too long a text or name). */
  | 'invalid'

/** Misuse of the group API; what other members or the server do wrong is a `group-error` event. */
export class GroupError extends Error {
  override readonly name = 'GroupError'
  constructor(
    readonly code: GroupErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }

  static is(e: unknown, code?: GroupErrorCode): e is GroupError {
    return e instanceof GroupError && (code === undefined || e.code === code)
  }
}
