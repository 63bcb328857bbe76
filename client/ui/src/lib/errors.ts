import { AccountError } from '../../../core/account.ts'
import { ApiError } from '../../../core/api.ts'
import type { MessageKey } from './i18n/en.ts'
import { t } from './i18n/i18n.svelte.ts'
import { KdfError } from './kdf.ts'

/** Server answers the user can act on; anything else is shown with its own message. */
const apiErrorKeys: Partial<Record<ApiError['code'], MessageKey>> = {
  'invalid-credentials': 'err.invalidCredentials',
  'username-taken': 'err.usernameTaken',
  'rate-limited': 'err.rateLimited',
  network: 'err.network',
  unauthorized: 'err.sessionEnded',
  'not-found': 'err.notFound',
  blocked: 'err.blocked',
  'already-friends': 'err.alreadyFriends',
  self: 'err.self',
  forbidden: 'err.forbidden',
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
  if (e instanceof KdfError) return t('err.kdf')
  return t('err.generic', { message: e instanceof Error ? e.message : String(e) })
}
