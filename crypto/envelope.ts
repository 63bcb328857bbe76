import { ByteWriter } from './binary-codec.ts'
import { equalBytes, fromBase64Url, toBase64Url, utf8Encode } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { sha256 } from './hkdf.ts'
import { assertEd25519, ed25519Sign, type KeyPair } from './primitives.ts'
import { normalizeFingerprint, sdpFingerprints } from './sdp-fingerprints.ts'

export type EnvelopeType = 'offer' | 'answer' | 'candidate' | 'bye'
const envelopeTypes: readonly EnvelopeType[] = ['offer', 'answer', 'candidate', 'bye']

/** The JSON object relayed by the server (opaque to it). Binary fields are base64url. */
export interface SignedEnvelope {
  readonly v: 1
  readonly type: EnvelopeType
  readonly from: string
  readonly to: string
  /** Session id chosen by the offerer; also part of the handshake prologue. */
  readonly sid: string
  /** Increasing per (from, sid); each number is used for one envelope only. */
  readonly seq: number
  /** Sender's clock, milliseconds since the epoch. */
  readonly ts: number
  /** The sender's DTLS fingerprints, normalised ("sha-256 AB:CD:..."). */
  readonly fps: readonly string[]
  /** SDP for offers and answers, candidate JSON for candidates. */
  readonly payload: string
  /** Sender's Ed25519 identity public key (32 bytes). */
  readonly key: string
  /** Ed25519 signature (64 bytes) over the canonical encoding. */
  readonly sig: string
}

export interface EnvelopeInput {
  readonly type: EnvelopeType
  readonly from: string
  readonly to: string
  readonly sessionId: string
  readonly sequence: number
  readonly timestampMs: number
  readonly fingerprints: readonly string[]
  readonly payload: string
}

export interface VerifiedEnvelope extends EnvelopeInput {
  readonly identityKey: Uint8Array
}

/**
 * How far below the highest accepted sequence an envelope not yet seen is still accepted, as in
 * the anti-replay windows of IPsec (RFC 4303 §3.4.3) and DTLS (RFC 6347 §4.1.2.6). A connection
 * attempt signs one offer or answer and a few dozen candidates at most, so an honest relay that
 * reorders them never leaves the window.
 */
export const sequenceWindow = 64

/** What a SequenceStore keeps for one (peer, session). */
export interface SequenceRecord {
  /** Sequences at or below this are refused: too old to tell a duplicate from a replay. */
  readonly floor: number
  /** Each accepted sequence above `floor`, with the digest of the envelope that used it. */
  readonly seen: readonly (readonly [sequence: number, digest: string])[]
}

/**
 * `fresh`: never seen, accept. `duplicate`: this very envelope was already accepted (a relay
 * re-sent it, e.g. after losing its acknowledgment): harmless, ignore it. `reused`: the sequence
 * was accepted for a different envelope. `behind`: at or below the window's floor.
 */
export type SequenceVerdict = 'fresh' | 'duplicate' | 'reused' | 'behind'

/**
 * The acceptance rule for envelope sequences, kept pure so that every store applies the same
 * one. `record` is returned unchanged unless the verdict is `fresh`.
 */
export function admitSequence(
  record: SequenceRecord | undefined,
  sequence: number,
  digest: string,
): { verdict: SequenceVerdict; record: SequenceRecord } {
  const current = record ?? { floor: -1, seen: [] }
  if (sequence <= current.floor) return { verdict: 'behind', record: current }
  const earlier = current.seen.find(([s]) => s === sequence)
  if (earlier !== undefined)
    return { verdict: earlier[1] === digest ? 'duplicate' : 'reused', record: current }
  const highest = Math.max(sequence, ...current.seen.map(([s]) => s))
  const floor = Math.max(current.floor, highest - sequenceWindow)
  const seen = [...current.seen, [sequence, digest] as const].filter(([s]) => s > floor)
  return { verdict: 'fresh', record: { floor, seen } }
}

/** Keeps the sequences accepted per (peer, session); the client keeps them in IndexedDB. */
export interface SequenceStore {
  /**
   * Atomically applies `admitSequence` to the record for (peer, sessionId), stores the new
   * record when the verdict is `fresh`, and returns the verdict.
   */
  admit(peer: string, sessionId: string, sequence: number, digest: string): Promise<SequenceVerdict>
}

/** Identity keys pinned on first use; null when nothing is pinned for the user. */
export interface PinnedKeyStore {
  pinnedIdentityKey(username: string): Promise<Uint8Array | null>
}

export interface VerifyEnvelopeContext {
  readonly me: string
  readonly pins: PinnedKeyStore
  readonly sequences: SequenceStore
  readonly nowMs: () => number
  /** Accepted clock difference either way; default 120 000 ms. */
  readonly windowMs?: number
}

export const envelopeWindowMs = 120_000
/** The server refuses envelopes over 64 KiB; stay clear of that with the JSON overhead. */
export const maxEnvelopePayloadBytes = 60 * 1024
const maxNameBytes = 256
const maxFingerprints = 8
const envelopeLabel = 'tincan/v1/signal-envelope'

/** The exact bytes that are signed; every field length-prefixed or fixed-width. */
function canonicalEncoding(e: EnvelopeInput, identityKey: Uint8Array): Uint8Array {
  const w = new ByteWriter(512)
    .str(envelopeLabel)
    .u8(1)
    .str(e.type)
    .str(e.from)
    .str(e.to)
    .str(e.sessionId)
    .u64(e.sequence)
    .u64(e.timestampMs)
    .u32(e.fingerprints.length)
  for (const fp of e.fingerprints) w.str(fp)
  return w
    .raw(sha256(utf8Encode(e.payload)))
    .raw(identityKey)
    .finish()
}

function checkShape(e: EnvelopeInput): void {
  if (!envelopeTypes.includes(e.type)) throw new CryptoError('bad-format', 'unknown envelope type')
  for (const [name, value] of [
    ['from', e.from],
    ['to', e.to],
    ['sid', e.sessionId],
  ] as const) {
    if (value.length === 0 || utf8Encode(value).length > maxNameBytes) {
      throw new CryptoError('bad-format', `envelope ${name} is empty or too long`)
    }
  }
  if (!Number.isSafeInteger(e.sequence) || e.sequence < 0) throw new CryptoError('bad-format', 'bad sequence')
  if (!Number.isSafeInteger(e.timestampMs) || e.timestampMs < 0)
    throw new CryptoError('bad-format', 'bad timestamp')
  if (e.fingerprints.length > maxFingerprints) throw new CryptoError('bad-format', 'too many fingerprints')
  if (utf8Encode(e.payload).length > maxEnvelopePayloadBytes) {
    throw new CryptoError('bad-format', 'envelope payload too large')
  }
}

/**
 * Signs a signaling message with the identity key.
 * @throws CryptoError 'bad-format' for out-of-range fields or unreadable fingerprints.
 */
export function signEnvelope(identityKey: KeyPair, input: EnvelopeInput): SignedEnvelope {
  const e: EnvelopeInput = { ...input, fingerprints: input.fingerprints.map(normalizeFingerprint) }
  checkShape(e)
  const sig = ed25519Sign(identityKey.secretKey, canonicalEncoding(e, identityKey.publicKey))
  return {
    v: 1,
    type: e.type,
    from: e.from,
    to: e.to,
    sid: e.sessionId,
    seq: e.sequence,
    ts: e.timestampMs,
    fps: e.fingerprints,
    payload: e.payload,
    key: toBase64Url(identityKey.publicKey),
    sig: toBase64Url(sig),
  }
}

/**
 * Parses an envelope received from the network without verifying it.
 * @throws CryptoError 'bad-format' for anything that is not a well-formed version-1 envelope.
 */
export function parseEnvelope(raw: unknown): {
  input: EnvelopeInput
  identityKey: Uint8Array
  signature: Uint8Array
} {
  if (typeof raw !== 'object' || raw === null)
    throw new CryptoError('bad-format', 'envelope is not an object')
  const o = raw as Record<string, unknown>
  const { type, from, to, sid, seq, ts, fps, payload } = o
  if (o['v'] !== 1) throw new CryptoError('bad-format', 'unknown envelope version')
  if (typeof type !== 'string' || !envelopeTypes.includes(type as EnvelopeType)) {
    throw new CryptoError('bad-format', 'unknown envelope type')
  }
  if (
    typeof from !== 'string' ||
    typeof to !== 'string' ||
    typeof sid !== 'string' ||
    typeof payload !== 'string'
  ) {
    throw new CryptoError('bad-format', 'envelope string field missing')
  }
  if (typeof seq !== 'number' || typeof ts !== 'number')
    throw new CryptoError('bad-format', 'envelope number missing')
  if (!Array.isArray(fps) || !fps.every((f): f is string => typeof f === 'string')) {
    throw new CryptoError('bad-format', 'envelope fps must be strings')
  }
  const input: EnvelopeInput = {
    type: type as EnvelopeType,
    from,
    to,
    sessionId: sid,
    sequence: seq,
    timestampMs: ts,
    fingerprints: fps,
    payload,
  }
  checkShape(input)
  return {
    input,
    identityKey: fromBase64Url(o['key'], 32, 'envelope key'),
    signature: fromBase64Url(o['sig'], 64, 'envelope sig'),
  }
}

/**
 * Verifies an envelope against the key pinned for its sender and, only when every check has
 * passed, records its sequence number.
 * @throws CryptoError 'bad-format' (malformed), 'untrusted-key' (no pinned key, or not the
 * pinned one), 'bad-signature', 'wrong-recipient', 'stale' (outside the clock window),
 * 'fingerprint-mismatch' (an SDP fingerprint that was not signed, or none in an offer/answer),
 * 'duplicate' (this same envelope was already accepted: drop it quietly), 'replay' (its sequence
 * was used by a different envelope, or is below the window, for this peer and session).
 */
export async function verifyEnvelope(raw: unknown, ctx: VerifyEnvelopeContext): Promise<VerifiedEnvelope> {
  const { input, identityKey, signature } = parseEnvelope(raw)
  const pinned = await ctx.pins.pinnedIdentityKey(input.from)
  if (pinned === null || !equalBytes(pinned, identityKey)) {
    throw new CryptoError('untrusted-key', `envelope key is not the one pinned for ${input.from}`)
  }
  assertEd25519(signature, canonicalEncoding(input, pinned), pinned, 'signaling envelope')
  if (input.to !== ctx.me) throw new CryptoError('wrong-recipient', 'envelope is addressed to somebody else')
  const windowMs = ctx.windowMs ?? envelopeWindowMs
  if (Math.abs(ctx.nowMs() - input.timestampMs) > windowMs) {
    throw new CryptoError('stale', 'envelope timestamp is outside the accepted window')
  }
  checkSdpFingerprints(input)
  // The same signed content is the same envelope, whatever its signature bytes.
  const digest = toBase64Url(sha256(canonicalEncoding(input, pinned)))
  const verdict = await ctx.sequences.admit(input.from, input.sessionId, input.sequence, digest)
  switch (verdict) {
    case 'fresh':
      return { ...input, identityKey: pinned }
    case 'duplicate':
      throw new CryptoError('duplicate', 'envelope was already accepted')
    case 'reused':
      throw new CryptoError('replay', 'envelope sequence number was already used by another envelope')
    case 'behind':
      throw new CryptoError('replay', 'envelope sequence number is too far behind the latest one')
    default: {
      const unreachable: never = verdict
      return unreachable
    }
  }
}

function checkSdpFingerprints(e: EnvelopeInput): void {
  const signed = new Set(e.fingerprints.map((fp) => normalizeFingerprintOrMismatch(fp)))
  const inSdp = sdpFingerprints(e.payload)
  if ((e.type === 'offer' || e.type === 'answer') && inSdp.length === 0) {
    throw new CryptoError('fingerprint-mismatch', `${e.type} SDP carries no DTLS fingerprint`)
  }
  for (const fp of inSdp) {
    if (!signed.has(fp)) throw new CryptoError('fingerprint-mismatch', 'SDP fingerprint was not signed')
  }
}

function normalizeFingerprintOrMismatch(fp: string): string {
  try {
    return normalizeFingerprint(fp)
  } catch (cause) {
    throw new CryptoError('fingerprint-mismatch', 'signed fingerprint is unreadable', { cause })
  }
}

/** A SequenceStore in memory (tests, or a client that persists it another way). */
export class MemorySequenceStore implements SequenceStore {
  readonly #records = new Map<string, SequenceRecord>()

  admit(peer: string, sessionId: string, sequence: number, digest: string): Promise<SequenceVerdict> {
    const key = JSON.stringify([peer, sessionId])
    const { verdict, record } = admitSequence(this.#records.get(key), sequence, digest)
    if (verdict === 'fresh') this.#records.set(key, record)
    return Promise.resolve(verdict)
  }
}
