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
  /** Strictly increasing per (from, sid). */
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

/** Persists the highest sequence accepted per (peer, session); the client keeps it in IndexedDB. */
export interface SequenceStore {
  /**
   * Atomically records `sequence` if it is above the one stored for (peer, sessionId) and
   * returns true; returns false (storing nothing) otherwise.
   */
  advance(peer: string, sessionId: string, sequence: number): Promise<boolean>
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
 * 'replay' (sequence not above the last accepted one for this peer and session).
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
  if (!(await ctx.sequences.advance(input.from, input.sessionId, input.sequence))) {
    throw new CryptoError('replay', 'envelope sequence number is not increasing')
  }
  return { ...input, identityKey: pinned }
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
  readonly #last = new Map<string, number>()

  advance(peer: string, sessionId: string, sequence: number): Promise<boolean> {
    const key = JSON.stringify([peer, sessionId])
    const last = this.#last.get(key)
    if (last !== undefined && sequence <= last) return Promise.resolve(false)
    this.#last.set(key, sequence)
    return Promise.resolve(true)
  }
}
