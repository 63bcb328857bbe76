import { ByteReader, ByteWriter } from './binary-codec.ts'
import { fromBase64Url, toBase64Url } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { assertEd25519, ed25519Sign } from './primitives.ts'
import type { SenderKeyDistribution } from './group-sender-key.ts'

// A sender key distribution signed by its owner's identity key, so that any member may pass it
// on to another member over their own pairwise ratchet (catch-up while the owner is offline)
// without being able to forge one. It names the member-list version the epoch belongs to: only
// members of that version may be given it, so an added member never gets an earlier epoch and a
// removed member never gets a later one.
//
// Signed bytes: lp(label) | lp(group id) | lp(sender) | epoch u32 | iteration u32 | chain key (32) |
//   signing key (32) | list version u64 | list hash (32) | has previous u8 |
//   [previous epoch u32 | previous epoch's message count u32 | previous epoch's list version u64]

const label = 'tincan/v1/group/sender-key'

/** The epoch this sender used before this one: lets a receiver tell whether it missed it. */
export interface PreviousEpoch {
  readonly epoch: number
  /** Messages sent in that epoch (iterations 0 … count − 1). */
  readonly count: number
  readonly listVersion: number
}

/** A `SenderKeyDistribution` with its place in the member-list chain, signed by the sender. Contains secrets. */
export interface SignedSenderKey extends SenderKeyDistribution {
  readonly listVersion: number
  /** base64url SHA-256 of that member-list version (`memberListHash`). */
  readonly listHash: string
  readonly prev?: PreviousEpoch
  /** base64url Ed25519 signature by the sender's identity key. */
  readonly sig: string
}

function u32(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > 0xffffffff)
    throw new CryptoError('bad-format', `${what} must be a u32`)
  return value as number
}

function u53(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0)
    throw new CryptoError('bad-format', `${what} must be a non-negative integer`)
  return value as number
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256)
    throw new CryptoError('bad-format', `${what} must be a non-empty string`)
  return value
}

function signedBytes(k: Omit<SignedSenderKey, 'sig'>): Uint8Array {
  const w = new ByteWriter(256)
    .str(label)
    .str(k.groupId)
    .str(k.sender)
    .u32(k.epoch)
    .u32(k.iteration)
    .raw(fromBase64Url(k.chainKey, 32, 'chainKey'))
    .raw(fromBase64Url(k.signingKey, 32, 'signingKey'))
    .u64(k.listVersion)
    .raw(fromBase64Url(k.listHash, 32, 'listHash'))
  if (k.prev === undefined) return w.u8(0).finish()
  return w.u8(1).u32(k.prev.epoch).u32(k.prev.count).u64(k.prev.listVersion).finish()
}

/**
 * Signs a distribution for list version `list` with the sender's identity secret key.
 * @throws CryptoError 'bad-format' for malformed fields.
 */
export function signSenderKey(
  identitySecretKey: Uint8Array,
  distribution: SenderKeyDistribution,
  list: { version: number; hash: Uint8Array },
  prev?: PreviousEpoch,
): SignedSenderKey {
  const body: Omit<SignedSenderKey, 'sig'> = {
    ...distribution,
    listVersion: list.version,
    listHash: toBase64Url(list.hash),
    ...(prev === undefined ? {} : { prev }),
  }
  return { ...body, sig: toBase64Url(ed25519Sign(identitySecretKey, signedBytes(body))) }
}

/**
 * Checks the shape and the sender's signature (with the identity key the member list gives the
 * sender). Returns a clean copy; membership and list-hash checks are the caller's.
 * @throws CryptoError 'bad-format', 'bad-signature'.
 */
export function verifySenderKey(raw: unknown, senderIdentityKey: Uint8Array): SignedSenderKey {
  if (typeof raw !== 'object' || raw === null)
    throw new CryptoError('bad-format', 'sender key is not an object')
  const o = raw as Record<string, unknown>
  if (o['v'] !== 1) throw new CryptoError('bad-format', 'unknown sender key version')
  let prev: PreviousEpoch | undefined
  if (o['prev'] !== undefined) {
    const p = (o['prev'] ?? {}) as Record<string, unknown>
    prev = {
      epoch: u32(p['epoch'], 'prev.epoch'),
      count: u32(p['count'], 'prev.count'),
      listVersion: u53(p['listVersion'], 'prev.listVersion'),
    }
  }
  const body: Omit<SignedSenderKey, 'sig'> = {
    v: 1,
    groupId: text(o['groupId'], 'groupId'),
    sender: text(o['sender'], 'sender'),
    epoch: u32(o['epoch'], 'epoch'),
    iteration: u32(o['iteration'], 'iteration'),
    chainKey: text(o['chainKey'], 'chainKey'),
    signingKey: text(o['signingKey'], 'signingKey'),
    listVersion: u53(o['listVersion'], 'listVersion'),
    listHash: text(o['listHash'], 'listHash'),
    ...(prev === undefined ? {} : { prev }),
  }
  const sig = fromBase64Url(o['sig'], 64, 'sig')
  assertEd25519(sig, signedBytes(body), senderIdentityKey, 'sender key')
  return { ...body, sig: o['sig'] as string }
}

/** Who sent a group message, and where it sits in their chain: read without any key (for dedupe and routing). */
export interface GroupMessageHeader {
  readonly sender: string
  readonly epoch: number
  readonly iteration: number
}

/**
 * The header of a group message (see group-sender-key.ts for the layout). Not authenticated:
 * only `GroupReceiver.decrypt` checks the signature that covers it.
 * @throws CryptoError 'bad-format'.
 */
export function groupMessageHeader(message: Uint8Array): GroupMessageHeader {
  const r = new ByteReader(message, 'group message')
  if (r.u8() !== 1) throw new CryptoError('bad-format', 'unknown group message version')
  const sender = r.str(256)
  if (sender.length === 0) throw new CryptoError('bad-format', 'group message without a sender')
  const epoch = r.u32()
  const iteration = r.u32()
  // Ciphertext (at least a 16-byte tag) and a 64-byte signature follow.
  if (r.remaining < 16 + 64) throw new CryptoError('bad-format', 'group message too short')
  return { sender, epoch, iteration }
}
