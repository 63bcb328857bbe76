import { concatBytes, equalBytes, padBlock, toBase64Url, unpadBlock, wipe } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { decodeHeader, encodeHeader, headerBytes } from './ratchet-header.ts'
import { kdfChain, kdfRoot, messageKeys } from './ratchet-kdf.ts'
import {
  type RatchetState,
  type RatchetStateJson,
  type SkippedKey,
  stateFromJson,
  stateToJson,
} from './ratchet-state.ts'
import {
  aeadTagBytes,
  type KeyPair,
  x25519,
  x25519KeyPair,
  xchachaDecrypt,
  xchachaEncrypt,
} from './primitives.ts'

/** Everything the handshake hands to the ratchet. */
export interface RatchetInit {
  /** The initiator sends first on its chain; the responder steps its ratchet once up front. */
  readonly role: 'initiator' | 'responder'
  readonly rootKey: Uint8Array
  /** The handshake hash: bound into every message's associated data. */
  readonly associatedData: Uint8Array
  readonly ownRatchetKeyPair: KeyPair
  readonly remoteRatchetKey: Uint8Array
}

export interface RatchetOptions {
  /** Most message keys one incoming message may make us skip on one chain (libsignal: 2000). */
  readonly maxSkip?: number
  /** Most skipped keys kept per receiving chain; the oldest go first. */
  readonly maxSkippedPerChain?: number
  /** Most receiving chains with skipped keys kept (libsignal keeps 5). */
  readonly maxSkippedChains?: number
  /** Skipped keys older than this are dropped. */
  readonly skippedKeyMaxAgeMs?: number
  readonly nowMs?: () => number
}

export const ratchetDefaults = {
  maxSkip: 2000,
  maxSkippedPerChain: 2000,
  maxSkippedChains: 5,
  skippedKeyMaxAgeMs: 7 * 24 * 60 * 60 * 1000,
} as const

/** Padding block: hides message lengths to the nearest 256 bytes. */
export const ratchetPaddingBytes = 256
const maxRetired = 16
const maxCounter = 0xffffffff

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * One Double Ratchet session (Signal specification, with XChaCha20-Poly1305 as the AEAD).
 * Every method either succeeds and moves the state forward, or throws and leaves it exactly
 * as it was. Persist `toJson()` after each call.
 */
export class RatchetSession {
  #state: RatchetState
  readonly #maxSkip: number
  readonly #maxPerChain: number
  readonly #maxChains: number
  readonly #maxAgeMs: number
  readonly #now: () => number

  private constructor(state: RatchetState, options: RatchetOptions) {
    this.#state = state
    this.#maxSkip = options.maxSkip ?? ratchetDefaults.maxSkip
    this.#maxPerChain = options.maxSkippedPerChain ?? ratchetDefaults.maxSkippedPerChain
    this.#maxChains = options.maxSkippedChains ?? ratchetDefaults.maxSkippedChains
    this.#maxAgeMs = options.skippedKeyMaxAgeMs ?? ratchetDefaults.skippedKeyMaxAgeMs
    this.#now = options.nowMs ?? Date.now
  }

  /**
   * Starts a session from a completed handshake.
   * @throws CryptoError 'low-order-key' for a small-order remote ratchet key, 'bad-format' for wrong sizes.
   */
  static create(init: RatchetInit, options: RatchetOptions = {}): RatchetSession {
    if (init.rootKey.length !== 32 || init.associatedData.length !== 32) {
      throw new CryptoError('bad-format', 'ratchet root key and associated data must be 32 bytes')
    }
    const dh = x25519(init.ownRatchetKeyPair.secretKey, init.remoteRatchetKey)
    const first = kdfRoot(init.rootKey, dh)
    const base = {
      ad: init.associatedData.slice(),
      dhr: init.remoteRatchetKey.slice(),
      ns: 0,
      nr: 0,
      pn: 0,
      skipped: new Map(),
      retired: [],
    }
    if (init.role === 'initiator') {
      // Signal's Alice: a sending chain now, a receiving chain at the peer's first reply.
      const dhs = {
        publicKey: init.ownRatchetKeyPair.publicKey.slice(),
        secretKey: init.ownRatchetKeyPair.secretKey.slice(),
      }
      const state = { ...base, rootKey: first.rootKey, dhs, cks: first.chainKey, ckr: null }
      return new RatchetSession(state, options)
    }
    // Signal's Bob after receiving Alice's first header, done eagerly so either side may speak first.
    const dhs = x25519KeyPair()
    const second = kdfRoot(first.rootKey, x25519(dhs.secretKey, init.remoteRatchetKey))
    const state = { ...base, rootKey: second.rootKey, dhs, cks: second.chainKey, ckr: first.chainKey }
    return new RatchetSession(state, options)
  }

  /** @throws CryptoError 'bad-format' / 'untrusted-key' for a malformed or inconsistent saved state. */
  static restore(json: unknown, options: RatchetOptions = {}): RatchetSession {
    return new RatchetSession(stateFromJson(json), options)
  }

  toJson(): RatchetStateJson {
    return stateToJson(this.#state)
  }

  /**
   * The state as it will be after `count` more messages are sent on the current sending chain,
   * for saving ahead of use: a device that crashes and restores it starts `count` message
   * numbers further on, so it never reuses a message key it may already have used; the peer
   * treats the gap as skipped messages (keep `count` well under maxSkip). The live state is
   * unchanged.
   */
  toJsonAhead(count: number): RatchetStateJson {
    const st = this.#state
    if (count <= 0 || st.cks === null) return stateToJson(st)
    let cks = st.cks
    for (let i = 0; i < count; i++) cks = kdfChain(cks).nextChainKey
    return stateToJson({ ...st, cks, ns: st.ns + count })
  }

  /** Messages sent on the current sending chain. */
  get sendCount(): number {
    return this.#state.ns
  }

  /** Our current ratchet public key (changes after each round trip). */
  get ratchetPublicKey(): Uint8Array {
    return this.#state.dhs.publicKey.slice()
  }

  /**
   * Encrypts one message: header (42 bytes) followed by the padded, authenticated ciphertext.
   * @throws CryptoError 'bad-state' when the sending counter is exhausted (after 2^32 - 1 messages).
   */
  encrypt(plaintext: Uint8Array): Uint8Array {
    const st = this.#state
    if (st.cks === null) throw new CryptoError('bad-state', 'no sending chain')
    if (st.ns >= maxCounter)
      throw new CryptoError('bad-state', 'sending chain exhausted; run a new handshake')
    const { seed, nextChainKey } = kdfChain(st.cks)
    const header = encodeHeader({ dh: st.dhs.publicKey, pn: st.pn, n: st.ns })
    const { key, nonce } = messageKeys(seed)
    const ct = xchachaEncrypt(
      key,
      nonce,
      padBlock(plaintext, ratchetPaddingBytes),
      concatBytes(st.ad, header),
    )
    wipe(seed, key, st.cks)
    this.#state = { ...st, cks: nextChainKey, ns: st.ns + 1 }
    return concatBytes(header, ct)
  }

  /**
   * Decrypts one message, in any order within the skip bound. Counters are checked before any
   * key is derived, and the state changes only if the message authenticates.
   * @throws CryptoError 'bad-format' (malformed), 'too-far-ahead' (beyond the skip bound),
   * 'replay' (already decrypted, or its key was discarded), 'stale' (its skipped key expired),
   * 'low-order-key' (small-order ratchet key), 'decrypt-failed' (forged or altered).
   */
  decrypt(message: Uint8Array): Uint8Array {
    const header = decodeHeader(message)
    const headerRaw = message.subarray(0, headerBytes)
    const body = message.subarray(headerBytes)
    if (body.length < aeadTagBytes) throw new CryptoError('bad-format', 'ratchet message too short')
    const st = this.#state
    const now = this.#now()
    // Skipped keys are rare; avoid encoding the chain id for the common in-order message.
    const chainId = st.skipped.size > 0 || st.retired.length > 0 ? toBase64Url(header.dh) : ''
    const stored = st.skipped.size > 0 ? st.skipped.get(chainId)?.get(header.n) : undefined
    if (stored !== undefined) {
      if (now - stored.storedAtMs > this.#maxAgeMs)
        throw new CryptoError('stale', 'skipped message key expired')
      const plaintext = this.#open(stored.seed, headerRaw, body)
      const skipped = cloneSkipped(st.skipped, chainId)
      skipped.get(chainId)?.delete(header.n)
      this.#commit(st, { ...st, skipped }, now, [stored.seed])
      return plaintext
    }

    const work: Mutable<RatchetState> = { ...st }
    const used: Uint8Array[] = []
    if (st.dhr !== null && equalBytes(header.dh, st.dhr)) {
      if (st.ckr === null) throw new CryptoError('decrypt-failed', 'no receiving chain for this ratchet key')
      if (header.n < st.nr) throw new CryptoError('replay', 'message number already used')
      if (header.n - st.nr > this.#maxSkip)
        throw new CryptoError('too-far-ahead', 'message number beyond skip bound')
      this.#skipTo(work, header.n, now)
    } else {
      if (st.retired.includes(chainId)) throw new CryptoError('replay', 'ratchet key already retired')
      if (st.ckr !== null && header.pn > st.nr && header.pn - st.nr > this.#maxSkip) {
        throw new CryptoError('too-far-ahead', 'previous chain length beyond skip bound')
      }
      if (header.n > this.#maxSkip) throw new CryptoError('too-far-ahead', 'message number beyond skip bound')
      if (st.ckr !== null) this.#skipTo(work, header.pn, now)
      this.#dhStep(work, header.dh)
      this.#skipTo(work, header.n, now)
    }
    const ckr = work.ckr
    if (ckr === null) throw new CryptoError('bad-state', 'no receiving chain')
    const { seed, nextChainKey } = kdfChain(ckr)
    const plaintext = this.#open(seed, headerRaw, body)
    used.push(seed)
    work.ckr = nextChainKey
    work.nr = header.n + 1
    this.#commit(st, work, now, used)
    return plaintext
  }

  #open(seed: Uint8Array, headerRaw: Uint8Array, body: Uint8Array): Uint8Array {
    const { key, nonce } = messageKeys(seed)
    const padded = xchachaDecrypt(key, nonce, body, concatBytes(this.#state.ad, headerRaw))
    wipe(key)
    return unpadBlock(padded, ratchetPaddingBytes)
  }

  /** Stores the keys of messages nr..until-1 of the current receiving chain as skipped. */
  #skipTo(work: Mutable<RatchetState>, until: number, now: number): void {
    if (work.nr >= until || work.ckr === null || work.dhr === null) return
    const chainId = toBase64Url(work.dhr)
    const skipped = cloneSkipped(work.skipped, chainId)
    const chain = skipped.get(chainId) ?? new Map<number, SkippedKey>()
    skipped.delete(chainId) // re-inserted last: the most recently used chain is evicted last
    const original = work.ckr
    let ck = original
    for (let n = work.nr; n < until; n++) {
      const { seed, nextChainKey } = kdfChain(ck)
      chain.set(n, { seed, storedAtMs: now })
      // Intermediate chain keys are ours alone; the original belongs to the committed state.
      if (ck !== original) wipe(ck)
      ck = nextChainKey
    }
    for (const n of chain.keys()) {
      if (chain.size <= this.#maxPerChain) break
      chain.delete(n)
    }
    skipped.set(chainId, chain)
    for (const id of skipped.keys()) {
      if (skipped.size <= this.#maxChains) break
      skipped.delete(id)
    }
    work.skipped = skipped
    work.ckr = ck
    work.nr = until
  }

  #dhStep(work: Mutable<RatchetState>, remoteKey: Uint8Array): void {
    if (work.dhr !== null) work.retired = [...work.retired, toBase64Url(work.dhr)].slice(-maxRetired)
    const receiving = kdfRoot(work.rootKey, x25519(work.dhs.secretKey, remoteKey))
    const dhs = x25519KeyPair()
    const sending = kdfRoot(receiving.rootKey, x25519(dhs.secretKey, remoteKey))
    work.pn = work.ns
    work.ns = 0
    work.nr = 0
    work.dhr = remoteKey
    work.ckr = receiving.chainKey
    work.dhs = dhs
    work.cks = sending.chainKey
    work.rootKey = sending.rootKey
  }

  /** Swaps in the new state, drops expired skipped keys and wipes what the new state no longer holds. */
  #commit(old: RatchetState, next: RatchetState, now: number, used: readonly Uint8Array[]): void {
    let skipped: Map<string, ReadonlyMap<number, SkippedKey>> | null = null
    for (const [id, chain] of next.skipped) {
      // Each chain's map is in insertion order, so only the first entry can be the oldest.
      const first = chain.values().next()
      if (first.done === true || now - first.value.storedAtMs <= this.#maxAgeMs) continue
      skipped ??= new Map(next.skipped)
      const kept = new Map([...chain].filter(([, k]) => now - k.storedAtMs <= this.#maxAgeMs))
      if (kept.size === 0) skipped.delete(id)
      else skipped.set(id, kept)
    }
    this.#state = skipped === null ? next : { ...next, skipped }
    wipe(...used)
    if (old.ckr !== null && old.ckr !== next.ckr) wipe(old.ckr)
    if (old.rootKey !== next.rootKey) wipe(old.rootKey)
    if (old.dhs !== next.dhs) wipe(old.dhs.secretKey)
  }
}

/** Copies the outer map and the one chain about to change; other chains stay shared. */
function cloneSkipped(
  skipped: RatchetState['skipped'],
  chainId: string,
): Map<string, Map<number, SkippedKey>> {
  const out = new Map<string, Map<number, SkippedKey>>()
  for (const [id, chain] of skipped)
    out.set(id, id === chainId ? new Map(chain) : (chain as Map<number, SkippedKey>))
  return out
}
