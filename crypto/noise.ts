import { concatBytes, utf8Encode } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { hkdfSha256, sha256 } from './hkdf.ts'
import { chachaIetfDecrypt, chachaIetfEncrypt, type KeyPair, x25519, x25519KeyPair } from './primitives.ts'

// Noise Protocol Framework, revision 34, for the one suite Tincan uses: 25519 / ChaChaPoly / SHA256.
// Patterns without pre-messages are supported so the published vectors for them can be run;
// Tincan itself only uses XX.

const dhLen = 32
const hashLen = 32
const tagLen = 16
export const noiseMaxMessageBytes = 65535
const emptyBytes = new Uint8Array(0)

type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss'
export type NoisePattern = 'NN' | 'NX' | 'XN' | 'XX' | 'IX' | 'IN'

const patterns: Record<NoisePattern, readonly (readonly Token[])[]> = {
  NN: [['e'], ['e', 'ee']],
  NX: [['e'], ['e', 'ee', 's', 'es']],
  XN: [['e'], ['e', 'ee'], ['s', 'se']],
  XX: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']],
  IN: [
    ['e', 's'],
    ['e', 'ee', 'se'],
  ],
  IX: [
    ['e', 's'],
    ['e', 'ee', 'se', 's', 'es'],
  ],
}

/** ChaChaPoly nonce: 32 bits of zeros, then the 64-bit counter little-endian. */
function nonceBytes(n: number): Uint8Array {
  const nonce = new Uint8Array(12)
  const view = new DataView(nonce.buffer)
  view.setUint32(4, n >>> 0, true)
  view.setUint32(8, Math.floor(n / 0x100000000), true)
  return nonce
}

/** A Noise CipherState: a key and a counter nonce that advances only on success. */
export class CipherState {
  #k: Uint8Array | null
  #n = 0

  constructor(key: Uint8Array | null = null) {
    this.#k = key
  }

  hasKey(): boolean {
    return this.#k !== null
  }

  /** Messages encrypted or decrypted so far. */
  get nonce(): number {
    return this.#n
  }

  #next(): Uint8Array {
    // 2^64 - 1 is reserved by the spec; 2^53 is where a JS number stops counting exactly.
    if (this.#n >= Number.MAX_SAFE_INTEGER) throw new CryptoError('bad-state', 'Noise nonce exhausted')
    return nonceBytes(this.#n)
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.#k === null) return plaintext.slice()
    const ct = chachaIetfEncrypt(this.#k, this.#next(), plaintext, ad)
    this.#n++
    return ct
  }

  /** @throws CryptoError 'decrypt-failed'; the nonce does not advance on failure. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.#k === null) return ciphertext.slice()
    const pt = chachaIetfDecrypt(this.#k, this.#next(), ciphertext, ad)
    this.#n++
    return pt
  }

  /** Transport encryption (empty associated data). */
  encrypt(plaintext: Uint8Array): Uint8Array {
    return this.encryptWithAd(emptyBytes, plaintext)
  }

  /** @throws CryptoError 'decrypt-failed' */
  decrypt(ciphertext: Uint8Array): Uint8Array {
    return this.decryptWithAd(emptyBytes, ciphertext)
  }
}

class SymmetricState {
  ck: Uint8Array
  h: Uint8Array
  cs = new CipherState()

  constructor(protocolName: string) {
    const name = utf8Encode(protocolName)
    if (name.length <= hashLen) {
      this.h = new Uint8Array(hashLen)
      this.h.set(name)
    } else {
      this.h = sha256(name)
    }
    this.ck = this.h.slice()
  }

  mixKey(ikm: Uint8Array): void {
    const out = hkdfSha256(ikm, this.ck, emptyBytes, 2 * hashLen)
    this.ck = out.slice(0, hashLen)
    this.cs = new CipherState(out.slice(hashLen))
  }

  mixHash(data: Uint8Array): void {
    this.h = sha256(this.h, data)
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ct = this.cs.encryptWithAd(this.h, plaintext)
    this.mixHash(ct)
    return ct
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const pt = this.cs.decryptWithAd(this.h, ciphertext)
    this.mixHash(ciphertext)
    return pt
  }

  /**
   * Split(), plus Noise-HKDF's third output as a secret for the layer above (the ratchet root).
   * HKDF outputs are prefixes of each other, so the two cipher keys are exactly Split()'s.
   */
  split(): [CipherState, CipherState, Uint8Array] {
    const out = hkdfSha256(emptyBytes, this.ck, emptyBytes, 3 * hashLen)
    return [
      new CipherState(out.slice(0, hashLen)),
      new CipherState(out.slice(hashLen, 2 * hashLen)),
      out.slice(2 * hashLen),
    ]
  }
}

export interface NoiseOptions {
  readonly pattern: NoisePattern
  readonly initiator: boolean
  readonly prologue: Uint8Array
  /** Local static key pair, for patterns that send one. */
  readonly staticKeyPair?: KeyPair
  /** Only for reproducing published vectors; otherwise a fresh ephemeral is generated. */
  readonly ephemeralKeyPair?: KeyPair
}

export interface NoiseSplit {
  /** Channel binding value: identical on both sides when the handshake succeeded. */
  readonly handshakeHash: Uint8Array
  readonly send: CipherState
  readonly receive: CipherState
  /** Independent of both cipher keys; Tincan uses it as the Double Ratchet root key. */
  readonly exportedSecret: Uint8Array
}

/**
 * A Noise handshake driven one message at a time. A failed read aborts it for good, as the
 * spec requires: a new handshake must start from scratch.
 */
export class NoiseHandshake {
  readonly #initiator: boolean
  readonly #tokens: readonly (readonly Token[])[]
  readonly #ss: SymmetricState
  readonly #s: KeyPair | undefined
  #e: KeyPair | undefined
  #injectedE: KeyPair | undefined
  #rs: Uint8Array | undefined
  #re: Uint8Array | undefined
  #index = 0
  #failed = false
  #split: NoiseSplit | null = null

  constructor(options: NoiseOptions) {
    this.#initiator = options.initiator
    this.#tokens = patterns[options.pattern]
    this.#ss = new SymmetricState(`Noise_${options.pattern}_25519_ChaChaPoly_SHA256`)
    this.#ss.mixHash(options.prologue)
    this.#s = options.staticKeyPair
    this.#injectedE = options.ephemeralKeyPair
    const sendsStatic = this.#tokens.some((m, i) => m.includes('s') && i % 2 === (this.#initiator ? 0 : 1))
    if (sendsStatic && this.#s === undefined) throw new CryptoError('bad-state', 'pattern needs a static key')
  }

  /** True when this side must call writeMessage next. */
  get isMyTurn(): boolean {
    return !this.isComplete && this.#index % 2 === (this.#initiator ? 0 : 1)
  }

  get isComplete(): boolean {
    return this.#split !== null
  }

  /** The remote static public key, once received. */
  get remoteStaticKey(): Uint8Array | undefined {
    return this.#rs
  }

  get handshakeHash(): Uint8Array {
    return this.#ss.h.slice()
  }

  #dh(token: 'ee' | 'es' | 'se' | 'ss'): Uint8Array {
    // es = DH(initiator e, responder s); se = DH(initiator s, responder e).
    const [mine, theirs] =
      token === 'ee'
        ? [this.#e, this.#re]
        : token === 'ss'
          ? [this.#s, this.#rs]
          : (token === 'es') === this.#initiator
            ? [this.#e, this.#rs]
            : [this.#s, this.#re]
    if (mine === undefined || theirs === undefined)
      throw new CryptoError('bad-state', `missing key for ${token}`)
    return x25519(mine.secretKey, theirs)
  }

  #step(): readonly Token[] {
    if (this.#failed) throw new CryptoError('bad-state', 'handshake already failed')
    const tokens = this.#tokens[this.#index]
    if (tokens === undefined) throw new CryptoError('bad-state', 'handshake already complete')
    return tokens
  }

  #finishStep(): void {
    this.#index++
    if (this.#index === this.#tokens.length) {
      const [c1, c2, exportedSecret] = this.#ss.split()
      this.#split = this.#initiator
        ? { handshakeHash: this.handshakeHash, send: c1, receive: c2, exportedSecret }
        : { handshakeHash: this.handshakeHash, send: c2, receive: c1, exportedSecret }
    }
  }

  /**
   * Produces the next handshake message carrying `payload` (encrypted once a key exists).
   * @throws CryptoError 'bad-state' when it is not this side's turn, 'bad-format' when the
   * message would exceed 65535 bytes, 'low-order-key' if the peer sent a small-order key.
   */
  writeMessage(payload: Uint8Array = emptyBytes): Uint8Array {
    const tokens = this.#step()
    if (!this.isMyTurn) throw new CryptoError('bad-state', 'not our turn to write')
    try {
      const parts: Uint8Array[] = []
      for (const t of tokens) {
        if (t === 'e') {
          this.#e = this.#injectedE ?? x25519KeyPair()
          this.#injectedE = undefined
          parts.push(this.#e.publicKey)
          this.#ss.mixHash(this.#e.publicKey)
        } else if (t === 's') {
          parts.push(this.#ss.encryptAndHash((this.#s as KeyPair).publicKey))
        } else {
          this.#ss.mixKey(this.#dh(t))
        }
      }
      parts.push(this.#ss.encryptAndHash(payload))
      const message = concatBytes(...parts)
      if (message.length > noiseMaxMessageBytes) throw new CryptoError('bad-format', 'Noise message too long')
      this.#finishStep()
      return message
    } catch (e) {
      this.#failed = true
      throw e
    }
  }

  /**
   * Consumes the peer's next handshake message and returns its payload.
   * @throws CryptoError 'bad-state' out of turn, 'bad-format' for a short or oversized message,
   * 'decrypt-failed' for a tampered one, 'low-order-key' for a small-order key. Any failure
   * aborts the handshake.
   */
  readMessage(message: Uint8Array): Uint8Array {
    const tokens = this.#step()
    if (this.isMyTurn) throw new CryptoError('bad-state', 'not our turn to read')
    try {
      if (message.length > noiseMaxMessageBytes) throw new CryptoError('bad-format', 'Noise message too long')
      let offset = 0
      const take = (n: number): Uint8Array => {
        if (offset + n > message.length) throw new CryptoError('bad-format', 'Noise message too short')
        const out = message.subarray(offset, offset + n)
        offset += n
        return out
      }
      for (const t of tokens) {
        if (t === 'e') {
          this.#re = take(dhLen).slice()
          this.#ss.mixHash(this.#re)
        } else if (t === 's') {
          this.#rs = this.#ss.decryptAndHash(take(dhLen + (this.#ss.cs.hasKey() ? tagLen : 0)))
        } else {
          this.#ss.mixKey(this.#dh(t))
        }
      }
      const payload = this.#ss.decryptAndHash(message.subarray(offset))
      this.#finishStep()
      return payload
    } catch (e) {
      this.#failed = true
      throw e
    }
  }

  /**
   * The transport cipher states and handshake hash.
   * @throws CryptoError 'bad-state' before the handshake is complete.
   */
  split(): NoiseSplit {
    if (this.#split === null) throw new CryptoError('bad-state', 'handshake not complete')
    return this.#split
  }
}
