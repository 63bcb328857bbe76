import { CryptoError, fromBase64Url, verifySafetyQr, type SafetyParty } from '../../crypto/index.ts'
import type { Trust } from './trust.ts'

/**
 * What scanning a friend's safety-number QR code did: `verified` (it matched, the friend is
 * marked verified), `mismatch` (a safety code, but not of the keys this device holds for the two
 * of you: a different key, another person's code, or your own), `not-safety-code` (some other
 * QR code). Only `verified` changes anything.
 */
export type SafetyScanResult = 'verified' | 'mismatch' | 'not-safety-code'

/**
 * Checks `scanned` against the code the friend's device must show for the keys this device holds
 * (the pinned key, or for an unconfirmed friend the claimed one: the same key the safety number
 * shows), computed here. Nothing from the code itself is trusted: it either matches or not.
 */
export async function checkScannedSafetyQr(
  trust: Trust,
  local: SafetyParty,
  peer: string,
  scanned: string,
): Promise<SafetyScanResult | undefined> {
  const key = (await trust.contact(peer))?.identityKey ?? trust.claim(peer)
  if (key === undefined) return undefined
  const remote = { identityKey: fromBase64Url(key, 32), username: peer }
  let matches: boolean
  try {
    matches = verifySafetyQr(scanned.trim(), local, remote)
  } catch (e: unknown) {
    if (CryptoError.is(e, 'bad-format')) return 'not-safety-code'
    throw e
  }
  if (!matches) return 'mismatch'
  // The key is marked only if it is still the one checked against (it could change meanwhile).
  return (await trust.verifyKey(peer, key)) ? 'verified' : 'mismatch'
}
