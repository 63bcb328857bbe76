import { equalBytes, fromBase64Url, toBase64Url } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { type KeyPair, x25519KeyPair } from './primitives.ts'

export interface SkippedKey {
  readonly seed: Uint8Array
  readonly storedAtMs: number
}

/** Chain id (base64url of the sender's ratchet key) → message number → seed; Map order is age. */
export type SkippedKeys = ReadonlyMap<string, ReadonlyMap<number, SkippedKey>>

/** The whole ratchet state. Never mutated in place: decryption builds a new one and swaps it in. */
export interface RatchetState {
  /** Handshake hash, prefixed to every header as associated data. */
  readonly ad: Uint8Array
  readonly rootKey: Uint8Array
  readonly dhs: KeyPair
  readonly dhr: Uint8Array | null
  readonly cks: Uint8Array | null
  readonly ckr: Uint8Array | null
  readonly ns: number
  readonly nr: number
  readonly pn: number
  readonly skipped: SkippedKeys
  /** Receiving ratchet keys that are no longer current, newest last (replay detection). */
  readonly retired: readonly string[]
}

/** JSON-safe ratchet state (base64url fields). Contains secrets: persist it only encrypted. */
export interface RatchetStateJson {
  readonly v: 1
  readonly ad: string
  readonly rootKey: string
  readonly dhsPublic: string
  readonly dhsSecret: string
  readonly dhr: string | null
  readonly cks: string | null
  readonly ckr: string | null
  readonly ns: number
  readonly nr: number
  readonly pn: number
  readonly skipped: readonly {
    readonly dh: string
    readonly keys: readonly { readonly n: number; readonly seed: string; readonly at: number }[]
  }[]
  readonly retired: readonly string[]
}

const orNull = (b: Uint8Array | null): string | null => (b === null ? null : toBase64Url(b))

export function stateToJson(s: RatchetState): RatchetStateJson {
  return {
    v: 1,
    ad: toBase64Url(s.ad),
    rootKey: toBase64Url(s.rootKey),
    dhsPublic: toBase64Url(s.dhs.publicKey),
    dhsSecret: toBase64Url(s.dhs.secretKey),
    dhr: orNull(s.dhr),
    cks: orNull(s.cks),
    ckr: orNull(s.ckr),
    ns: s.ns,
    nr: s.nr,
    pn: s.pn,
    skipped: [...s.skipped].map(([dh, keys]) => ({
      dh,
      keys: [...keys].map(([n, k]) => ({ n, seed: toBase64Url(k.seed), at: k.storedAtMs })),
    })),
    retired: [...s.retired],
  }
}

function counter(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > 0xffffffff) {
    throw new CryptoError('bad-format', `ratchet state ${what} is not a u32`)
  }
  return value as number
}

function keyOrNull(value: unknown, what: string): Uint8Array | null {
  return value === null ? null : fromBase64Url(value, 32, what)
}

/**
 * @throws CryptoError 'bad-format' for anything malformed, 'untrusted-key' if the stored
 * ratchet public key does not match its secret.
 */
export function stateFromJson(json: unknown): RatchetState {
  if (typeof json !== 'object' || json === null)
    throw new CryptoError('bad-format', 'ratchet state is not an object')
  const o = json as Record<string, unknown>
  if (o['v'] !== 1) throw new CryptoError('bad-format', 'unknown ratchet state version')
  const dhs = x25519KeyPair(fromBase64Url(o['dhsSecret'], 32, 'dhsSecret'))
  if (!equalBytes(dhs.publicKey, fromBase64Url(o['dhsPublic'], 32, 'dhsPublic'))) {
    throw new CryptoError('untrusted-key', 'ratchet state key pair does not match')
  }
  const skippedJson = o['skipped']
  const retiredJson = o['retired']
  if (!Array.isArray(skippedJson) || !Array.isArray(retiredJson)) {
    throw new CryptoError('bad-format', 'ratchet state lists missing')
  }
  const skipped = new Map<string, Map<number, SkippedKey>>()
  for (const chain of skippedJson as unknown[]) {
    const c = chain as Record<string, unknown> | null
    if (typeof c !== 'object' || c === null || !Array.isArray(c['keys'])) {
      throw new CryptoError('bad-format', 'bad skipped chain')
    }
    const dh = toBase64Url(fromBase64Url(c['dh'], 32, 'skipped chain key'))
    const keys = new Map<number, SkippedKey>()
    for (const k of c['keys'] as unknown[]) {
      const e = k as Record<string, unknown> | null
      if (typeof e !== 'object' || e === null) throw new CryptoError('bad-format', 'bad skipped key')
      const at = e['at']
      if (typeof at !== 'number' || !Number.isSafeInteger(at)) {
        throw new CryptoError('bad-format', 'skipped key time is not an integer')
      }
      keys.set(counter(e['n'], 'skipped n'), {
        seed: fromBase64Url(e['seed'], 32, 'skipped seed'),
        storedAtMs: at,
      })
    }
    skipped.set(dh, keys)
  }
  return {
    ad: fromBase64Url(o['ad'], 32, 'ad'),
    rootKey: fromBase64Url(o['rootKey'], 32, 'rootKey'),
    dhs,
    dhr: keyOrNull(o['dhr'], 'dhr'),
    cks: keyOrNull(o['cks'], 'cks'),
    ckr: keyOrNull(o['ckr'], 'ckr'),
    ns: counter(o['ns'], 'ns'),
    nr: counter(o['nr'], 'nr'),
    pn: counter(o['pn'], 'pn'),
    skipped,
    retired: (retiredJson as unknown[]).map((r) => toBase64Url(fromBase64Url(r, 32, 'retired key'))),
  }
}
