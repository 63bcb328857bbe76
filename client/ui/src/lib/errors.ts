import { AccountError, MessageActionError, ApiError, DataError, KdfError } from '../../../core/index.ts'
import type { MessageKey } from './i18n/en.ts'
import { t } from './i18n/i18n.svelte.ts'

/** Server answers the user can act on; anything else is shown with its own message. */
const apiErrorKeys: Partial<Record<ApiError['code'], MessageKey>> = {
  'invalid-credentials': 'err.invalidCredentials',
  'username-taken': 'err.usernameTaken',
  'rate-limited': 'err.rateLimited',
  network: 'err.network',
  'bad-response': 'err.badResponse',
  unauthorized: 'err.sessionEnded',
  'not-found': 'err.notFound',
  blocked: 'err.blocked',
  'already-friends': 'err.alreadyFriends',
  self: 'err.self',
  forbidden: 'err.forbidden',
  'too-many-groups': 'err.tooManyGroups',
}

/** A sentence for the user about why something failed, in their language. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    const key = apiErrorKeys[e.code]
    return key === undefined ? t('err.generic', { message: e.message }) : t(key)
  }
  if (e instanceof AccountError) {
    switch (e.code) {
      case 'weak-kdf-params':
        return t('err.weakKdf')
      case 'wrong-password':
      case 'identity-mismatch':
        return t('err.identityMismatch')
    }
  }
  if (e instanceof MessageActionError) {
    switch (e.code) {
      case 'not-found':
        return t('err.action.notFound')
      case 'not-author':
        return t('err.action.notAuthor')
      case 'not-editable':
        return t('err.action.notEditable')
      case 'deleted':
        return t('err.action.deleted')
      case 'forbidden':
        return t('err.forbidden')
      case 'invalid':
        return t('err.action.invalid')
      default: {
        const unreachable: never = e.code
        return String(unreachable)
      }
    }
  }
  if (e instanceof DataError) return dataErrorText(e)
  if (e instanceof KdfError) return t('err.kdf')
  return t('err.generic', { message: e instanceof Error ? e.message : String(e) })
}

/** Why an export, a backup or a restore failed, and (for a restore) that nothing was changed. */
export function dataErrorText(e: DataError): string {
  switch (e.code) {
    case 'wrong-passphrase':
      return t('err.data.wrongPassphrase')
    case 'damaged':
      return t('err.data.damaged')
    case 'not-a-backup':
      return t('err.data.notABackup')
    case 'unsupported-version':
      return t('err.data.unsupportedVersion')
    case 'wrong-account':
      return t('err.data.wrongAccount')
    case 'weak-passphrase':
      return t('err.data.weakPassphrase')
    case 'not-found':
      return t('err.data.notFound')
    case 'storage-full':
      return t('err.data.storageFull')
    case 'storage-failed':
      return t('err.data.storageFailed')
    default: {
      const unreachable: never = e.code
      return String(unreachable)
    }
  }
}
