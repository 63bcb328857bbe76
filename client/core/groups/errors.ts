import { TincanError } from '../errors.ts'

export const groupErrorCodes = [
  /** No such group on this device (never verified, or not one the user is in). */
  'not-found',
  /** Only the group's admin signs member lists: adding, removing and renaming are theirs. */
  'not-admin',
  /** The user is no longer in the group (removed, or left). */
  'not-member',
  /** Members are added from friends, whose keys are pinned and accepted. */
  'not-friend',
  /** The admin signs every change, so they cannot leave while others remain. */
  'admin-cannot-leave',
  /** Over the group size limit. */
  'too-many',
  /** Outside the protocol's limits (empty or too long a text or name). */
  'invalid',
] as const
export type GroupErrorCode = (typeof groupErrorCodes)[number]

/** Misuse of the group API; what other members or the server do wrong is a `group-error` event. */
export class GroupError extends TincanError<GroupErrorCode> {
  override readonly name = 'GroupError'
}
