import { utf8Encode } from './bytes.ts'
import { hkdfExpand, hkdfExtract } from './hkdf.ts'
import { sodium } from './sodium.ts'

// Double Ratchet key derivation, as in Signal's specification (section 5.2), with our labels.

const rootInfo = utf8Encode('tincan/v1/ratchet/root')
const ratchetMessageInfo = utf8Encode('tincan/v1/ratchet/message-keys')
const seedInput = new Uint8Array([0x01])
const nextChainInput = new Uint8Array([0x02])
const zeroSalt = new Uint8Array(32)

export const chainKeyBytes = 32

/** KDF_RK: HKDF-SHA256(salt = root key, ikm = DH output, info = label) to 64 bytes. */
export function kdfRoot(
  rootKey: Uint8Array,
  dhOutput: Uint8Array,
): { rootKey: Uint8Array; chainKey: Uint8Array } {
  const out = hkdfExpand(hkdfExtract(rootKey, dhOutput), rootInfo, 64)
  return { rootKey: out.slice(0, 32), chainKey: out.slice(32) }
}

/**
 * KDF_CK: message key seed = HMAC-SHA256(ck, 0x01), next chain key = HMAC-SHA256(ck, 0x02).
 * Chain keys are always 32 bytes, so libsodium's one-shot HMAC applies (one call per output).
 */
export function kdfChain(chainKey: Uint8Array): { seed: Uint8Array; nextChainKey: Uint8Array } {
  const s = sodium()
  return {
    seed: s.crypto_auth_hmacsha256(seedInput, chainKey),
    nextChainKey: s.crypto_auth_hmacsha256(nextChainInput, chainKey),
  }
}

/**
 * Per-message AEAD key (32) and XChaCha nonce (24) from a message key seed:
 * HKDF-SHA256(salt = 32 zero bytes, ikm = seed, info = label, 56). Groups pass their own label.
 * Written out as extract + two expand blocks on the one-shot HMAC (PRK and salt are 32 bytes).
 */
export function messageKeys(
  seed: Uint8Array,
  messageKeysInfo: Uint8Array = ratchetMessageInfo,
): { key: Uint8Array; nonce: Uint8Array } {
  const s = sodium()
  const prk = s.crypto_auth_hmacsha256(seed, zeroSalt)
  const block1Input = new Uint8Array(messageKeysInfo.length + 1)
  block1Input.set(messageKeysInfo)
  block1Input[messageKeysInfo.length] = 1
  const t1 = s.crypto_auth_hmacsha256(block1Input, prk)
  const block2Input = new Uint8Array(32 + messageKeysInfo.length + 1)
  block2Input.set(t1)
  block2Input.set(messageKeysInfo, 32)
  block2Input[32 + messageKeysInfo.length] = 2
  const t2 = s.crypto_auth_hmacsha256(block2Input, prk)
  const nonce = t2.slice(0, 24)
  prk.fill(0)
  t2.fill(0)
  return { key: t1, nonce }
}
