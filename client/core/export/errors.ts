import { TincanError } from '../errors.ts'

/**
 * Why an export, a backup or a restore failed. Callers switch on `code`; messages are for logs.
 *
 * - `wrong-passphrase`: the backup does not open with this passphrase (or its very first bytes
 *   after the header were altered: the two cannot be told apart).
 * - `damaged`: the file opens but was cut short, altered, or does not parse.
 * - `not-a-backup`: the file is not a Tincan backup at all.
 * - `unsupported-version`: a backup from a newer version of Tincan.
 * - `wrong-account`: the backup belongs to another account; restoring it here is refused.
 * - `weak-passphrase`: a new backup's passphrase is too short.
 * - `not-found`: the conversation to export does not exist.
 * - `storage-full` / `storage-failed`: this device could not store the restored data (anything
 *   written was taken back).
 */
export const dataErrorCodes = [
  'wrong-passphrase',
  'damaged',
  'not-a-backup',
  'unsupported-version',
  'wrong-account',
  'weak-passphrase',
  'not-found',
  'storage-full',
  'storage-failed',
] as const
export type DataErrorCode = (typeof dataErrorCodes)[number]

export class DataError extends TincanError<DataErrorCode> {
  override readonly name = 'DataError'
}
