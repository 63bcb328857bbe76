import { cryptoErrorCodes } from '../../crypto/index.ts'
import { friendRefusalCodes } from './action-error.ts'

/**
 * Why a connection to a friend was refused or failed verification (a CryptoError code), or why
 * something their app sent was refused (a friend's change that was not theirs to make).
 */
export const peerErrorCodes = [...cryptoErrorCodes, ...friendRefusalCodes] as const
export type PeerErrorCode = (typeof peerErrorCodes)[number]

export interface PeerErrorEvent {
  readonly peer: string
  readonly code: PeerErrorCode
  /** For the console: people are told by `code`, never by this text. */
  readonly message: string
}
