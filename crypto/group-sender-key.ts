import { ByteReader, ByteWriter } from './binary-codec.ts'
import {
  equalBytes,
  fromBase64Url,
  padBlock,
  randomBytes,
  toBase64Url,
  unpadBlock,
  utf8Encode,
  wipe,
} from './bytes.ts'
import { CryptoError } from './errors.ts'
import {
  assertEd25519,
  ed25519KeyPair,
  ed25519Sign,
  type KeyPair,
  xchachaDecrypt,
  xchachaEncrypt,
} from './primitives.ts'
import { kdfChain, messageKeys } from './ratchet-kdf.ts'

// Group message (sender keys), all integers big-endian:
//   version u8 (=1) | lp(sender id) | epoch u32 | iteration u32 |
//   XChaCha20-Poly1305(sodium_pad(plaintext, 256)) | Ed25519 signature (64)
// AEAD associated data = lp(label) | lp(group id) | everything before the ciphertext.
// The signature covers lp(sig label) | lp(group id) | everything before the signature, so a
// member relaying another member's message cannot alter it.

const version = 1
const aeadLabel = 'tincan/v1/group/message'
const signatureLabel = 'tincan/v1/group/signature'
const messageKeysInfo = 'tincan/v1/group/message-keys'
const paddingBytes = 256
const signatureBytes = 64

/** Rotate a sender key after this many messages or this long, whichever comes first. */
export const groupRotation = { maxMessages: 100, maxAgeMs: 7 * 24 * 60 * 60 * 1000 } as const
/** Most message keys one incoming group message may make us skip. */
export const groupMaxSkip = 2000
/** Epochs kept per sender on the receiving side: the current one and the one before. */
const maxEpochsPerSender = 2

/** Sent to each member over the pairwise ratchet; contains secrets. */
export interface SenderKeyDistribution {
  readonly v: 1
  readonly groupId: string
  readonly sender: string
  readonly epoch: number
  /** The chain's iteration at which the receiver starts: it cannot read anything earlier. */
  readonly iteration: number
  readonly chainKey: string
  readonly signingKey: string
}

export interface GroupSenderJson {
  readonly v: 1
  readonly groupId: string
  readonly me: string
  readonly epoch: number
  readonly iteration: number
  readonly chainKey: string
  readonly signingPublicKey: string
  readonly signingSecretKey: string
  readonly createdAtMs: number
}

function header(sender: string, epoch: number, iteration: number): Uint8Array {
  return new ByteWriter(64).u8(version).str(sender).u32(epoch).u32(iteration).finish()
}

function aead(groupId: string, headerBytes: Uint8Array): Uint8Array {
  return new ByteWriter(128).str(aeadLabel).str(groupId).raw(headerBytes).finish()
}

function signedBytes(groupId: string, body: Uint8Array): Uint8Array {
  return new ByteWriter(body.length + 64).str(signatureLabel).str(groupId).raw(body).finish()
}

function u32(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > 0xffffffff) {
    throw new CryptoError('bad-format', `${what} must be a u32`)
  }
  return value as number
}

function nonEmpty(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) {
    throw new CryptoError('bad-format', `${what} must be a non-empty string`)
  }
  return value
}

/** This member's own sending chain for one group and epoch. */
export class GroupSender {
  readonly groupId: string
  readonly me: string
  readonly epoch: number
  readonly createdAtMs: number
  #iteration: number
  #chainKey: Uint8Array
  readonly #signing: KeyPair
  #retired = false

  private constructor(
    j: Omit<GroupSenderJson, 'v' | 'chainKey' | 'signingPublicKey' | 'signingSecretKey'>,
    chainKey: Uint8Array,
    signing: KeyPair,
  ) {
    this.groupId = j.groupId
    this.me = j.me
    this.epoch = j.epoch
    this.createdAtMs = j.createdAtMs
    this.#iteration = j.iteration
    this.#chainKey = chainKey
    this.#signing = signing
  }

  /** A fresh chain and signing key: at group creation, after a removal, or when `needsRotation`. */
  static create(groupId: string, me: string, epoch: number, nowMs: number): GroupSender {
    nonEmpty(groupId, 'group id')
    nonEmpty(me, 'member id')
    u32(epoch, 'epoch')
    return new GroupSender(
      { groupId, me, epoch, iteration: 0, createdAtMs: nowMs },
      randomBytes(32),
      ed25519KeyPair(),
    )
  }

  /** The next epoch's sender. This one stops encrypting: the old keys serve no new message. */
  rotate(nowMs: number): GroupSender {
    const next = GroupSender.create(this.groupId, this.me, this.epoch + 1, nowMs)
    this.#retired = true
    wipe(this.#chainKey, this.#signing.secretKey)
    return next
  }

  get iteration(): number {
    return this.#iteration
  }

  /** True after 100 messages or 7 days on this chain. */
  needsRotation(nowMs: number): boolean {
    return this.#iteration >= groupRotation.maxMessages || nowMs - this.createdAtMs >= groupRotation.maxAgeMs
  }

  /**
   * What a member needs to read our messages from now on (send it over the pairwise ratchet).
   * @throws CryptoError 'bad-state' after `rotate()`.
   */
  distribution(): SenderKeyDistribution {
    if (this.#retired) throw new CryptoError('bad-state', 'sender key was rotated')
    return {
      v: 1,
      groupId: this.groupId,
      sender: this.me,
      epoch: this.epoch,
      iteration: this.#iteration,
      chainKey: toBase64Url(this.#chainKey),
      signingKey: toBase64Url(this.#signing.publicKey),
    }
  }

  /** @throws CryptoError 'bad-state' after `rotate()` or when the chain is exhausted (rotate long before). */
  encrypt(plaintext: Uint8Array): Uint8Array {
    if (this.#retired) throw new CryptoError('bad-state', 'sender key was rotated; use the new one')
    if (this.#iteration >= 0xffffffff) throw new CryptoError('bad-state', 'sender chain exhausted')
    const { seed, nextChainKey } = kdfChain(this.#chainKey)
    const head = header(this.me, this.epoch, this.#iteration)
    const { key, nonce } = messageKeys(seed, utf8Encode(messageKeysInfo))
    const ct = xchachaEncrypt(key, nonce, padBlock(plaintext, paddingBytes), aead(this.groupId, head))
    const body = new ByteWriter(head.length + ct.length + signatureBytes).raw(head).raw(ct).finish()
    const signature = ed25519Sign(this.#signing.secretKey, signedBytes(this.groupId, body))
    wipe(seed, key, this.#chainKey)
    this.#chainKey = nextChainKey
    this.#iteration++
    return new ByteWriter(body.length + signatureBytes).raw(body).raw(signature).finish()
  }

  /** @throws CryptoError 'bad-state' after `rotate()`: persist the new sender instead. */
  toJson(): GroupSenderJson {
    if (this.#retired) throw new CryptoError('bad-state', 'sender key was rotated')
    return {
      v: 1,
      groupId: this.groupId,
      me: this.me,
      epoch: this.epoch,
      iteration: this.#iteration,
      chainKey: toBase64Url(this.#chainKey),
      signingPublicKey: toBase64Url(this.#signing.publicKey),
      signingSecretKey: toBase64Url(this.#signing.secretKey),
      createdAtMs: this.createdAtMs,
    }
  }

  /** @throws CryptoError 'bad-format' for a malformed saved state. */
  static restore(json: unknown): GroupSender {
    if (typeof json !== 'object' || json === null) throw new CryptoError('bad-format', 'sender state missing')
    const o = json as Record<string, unknown>
    if (o['v'] !== 1) throw new CryptoError('bad-format', 'unknown sender state version')
    if (!Number.isSafeInteger(o['createdAtMs'])) throw new CryptoError('bad-format', 'bad createdAtMs')
    return new GroupSender(
      {
        groupId: nonEmpty(o['groupId'], 'groupId'),
        me: nonEmpty(o['me'], 'me'),
        epoch: u32(o['epoch'], 'epoch'),
        iteration: u32(o['iteration'], 'iteration'),
        createdAtMs: o['createdAtMs'] as number,
      },
      fromBase64Url(o['chainKey'], 32, 'chainKey'),
      {
        publicKey: fromBase64Url(o['signingPublicKey'], 32, 'signingPublicKey'),
        secretKey: fromBase64Url(o['signingSecretKey'], 64, 'signingSecretKey'),
      },
    )
  }
}

interface ReceiverChain {
  readonly signingKey: Uint8Array
  readonly chainKey: Uint8Array
  readonly iteration: number
  /** Seeds of messages skipped on this chain, by iteration; bounded by `groupMaxSkip`. */
  readonly skipped: ReadonlyMap<number, Uint8Array>
}

export interface GroupReceiverJson {
  readonly v: 1
  readonly groupId: string
  readonly chains: readonly {
    readonly sender: string
    readonly epoch: number
    readonly signingKey: string
    readonly chainKey: string
    readonly iteration: number
    readonly skipped: readonly (readonly [number, string])[]
  }[]
}

const chainId = (sender: string, epoch: number): string => JSON.stringify([sender, epoch])

/** Everything this member can read in one group: a chain per (sender, epoch). */
export class GroupReceiver {
  readonly groupId: string
  readonly #chains = new Map<string, ReceiverChain & { sender: string; epoch: number }>()

  constructor(groupId: string) {
    this.groupId = nonEmpty(groupId, 'group id')
  }

  /**
   * Installs a member's sender key. `receivedFrom` is the member whose pairwise session
   * delivered it: only a member may hand out its own sender key. Keeps only that sender's
   * newest epochs; a repeated distribution for a known epoch is ignored, so it cannot rewind
   * the chain.
   * @throws CryptoError 'bad-format' for a malformed distribution or one for another group,
   * 'untrusted-key' if it names another sender than `receivedFrom`, or changes the keys of an
   * epoch already installed.
   */
  install(distribution: unknown, receivedFrom: string): void {
    if (typeof distribution !== 'object' || distribution === null)
      throw new CryptoError('bad-format', 'no distribution')
    const d = distribution as Record<string, unknown>
    if (d['v'] !== 1 || d['groupId'] !== this.groupId)
      throw new CryptoError('bad-format', 'distribution for another group')
    const sender = nonEmpty(d['sender'], 'sender')
    if (sender !== receivedFrom)
      throw new CryptoError('untrusted-key', `${receivedFrom} sent a sender key for ${sender}`)
    const epoch = u32(d['epoch'], 'epoch')
    const chain: ReceiverChain = {
      signingKey: fromBase64Url(d['signingKey'], 32, 'signingKey'),
      chainKey: fromBase64Url(d['chainKey'], 32, 'chainKey'),
      iteration: u32(d['iteration'], 'iteration'),
      skipped: new Map(),
    }
    const existing = this.#chains.get(chainId(sender, epoch))
    if (existing !== undefined) {
      if (!equalBytes(existing.signingKey, chain.signingKey)) {
        throw new CryptoError('untrusted-key', `${sender} changed the keys of epoch ${epoch}`)
      }
      return
    }
    this.#chains.set(chainId(sender, epoch), { ...chain, sender, epoch })
    const epochs = [...this.#chains.values()]
      .filter((c) => c.sender === sender)
      .sort((a, b) => b.epoch - a.epoch)
    for (const old of epochs.slice(maxEpochsPerSender)) this.#chains.delete(chainId(old.sender, old.epoch))
  }

  /** Forgets every key of a member (on removal), so nothing they send is accepted any more. */
  removeSender(sender: string): void {
    for (const [id, c] of this.#chains) if (c.sender === sender) this.#chains.delete(id)
  }

  /**
   * Verifies and decrypts a group message; state changes only on success.
   * @throws CryptoError 'bad-format', 'no-sender-key' (unknown sender or epoch), 'bad-signature',
   * 'replay', 'too-far-ahead' (beyond the skip bound, before any derivation), 'decrypt-failed'.
   */
  decrypt(message: Uint8Array): { sender: string; epoch: number; plaintext: Uint8Array } {
    if (message.length < 1 + 4 + 8 + 16 + signatureBytes)
      throw new CryptoError('bad-format', 'group message too short')
    const body = message.subarray(0, message.length - signatureBytes)
    const signature = message.subarray(message.length - signatureBytes)
    const r = new ByteReader(body, 'group message')
    if (r.u8() !== version) throw new CryptoError('bad-format', 'unknown group message version')
    const sender = r.str(256)
    const epoch = r.u32()
    const iteration = r.u32()
    const head = body.subarray(0, body.length - r.remaining)
    const ct = r.rest()
    const id = chainId(sender, epoch)
    const chain = this.#chains.get(id)
    if (chain === undefined)
      throw new CryptoError('no-sender-key', `no sender key for ${sender} epoch ${epoch}`)
    assertEd25519(signature, signedBytes(this.groupId, body), chain.signingKey, 'group message')

    let seed: Uint8Array
    let next: ReceiverChain
    if (iteration < chain.iteration) {
      const stored = chain.skipped.get(iteration)
      if (stored === undefined) throw new CryptoError('replay', 'group message already read or too old')
      const skipped = new Map(chain.skipped)
      skipped.delete(iteration)
      seed = stored
      next = { ...chain, skipped }
    } else {
      if (iteration - chain.iteration > groupMaxSkip)
        throw new CryptoError('too-far-ahead', 'beyond the skip bound')
      const skipped = new Map(chain.skipped)
      let ck = chain.chainKey
      for (let i = chain.iteration; i < iteration; i++) {
        const step = kdfChain(ck)
        skipped.set(i, step.seed)
        ck = step.nextChainKey
      }
      for (const k of skipped.keys()) {
        if (skipped.size <= groupMaxSkip) break
        skipped.delete(k)
      }
      const step = kdfChain(ck)
      seed = step.seed
      next = { ...chain, chainKey: step.nextChainKey, iteration: iteration + 1, skipped }
    }
    const { key, nonce } = messageKeys(seed, utf8Encode(messageKeysInfo))
    const padded = xchachaDecrypt(key, nonce, ct, aead(this.groupId, head))
    const plaintext = unpadBlock(padded, paddingBytes)
    this.#chains.set(id, { ...next, sender, epoch })
    wipe(seed, key)
    return { sender, epoch, plaintext }
  }

  toJson(): GroupReceiverJson {
    return {
      v: 1,
      groupId: this.groupId,
      chains: [...this.#chains.values()].map((c) => ({
        sender: c.sender,
        epoch: c.epoch,
        signingKey: toBase64Url(c.signingKey),
        chainKey: toBase64Url(c.chainKey),
        iteration: c.iteration,
        skipped: [...c.skipped].map(([i, s]) => [i, toBase64Url(s)] as const),
      })),
    }
  }

  /** @throws CryptoError 'bad-format' for a malformed saved state. */
  static restore(json: unknown): GroupReceiver {
    if (typeof json !== 'object' || json === null)
      throw new CryptoError('bad-format', 'receiver state missing')
    const o = json as Record<string, unknown>
    if (o['v'] !== 1 || !Array.isArray(o['chains'])) throw new CryptoError('bad-format', 'bad receiver state')
    const receiver = new GroupReceiver(nonEmpty(o['groupId'], 'groupId'))
    for (const raw of o['chains'] as unknown[]) {
      const c = (raw ?? {}) as Record<string, unknown>
      if (!Array.isArray(c['skipped'])) throw new CryptoError('bad-format', 'bad skipped list')
      const sender = nonEmpty(c['sender'], 'sender')
      const epoch = u32(c['epoch'], 'epoch')
      const skipped = new Map<number, Uint8Array>()
      for (const entry of c['skipped'] as unknown[]) {
        if (!Array.isArray(entry)) throw new CryptoError('bad-format', 'bad skipped entry')
        skipped.set(u32(entry[0], 'skipped iteration'), fromBase64Url(entry[1], 32, 'skipped seed'))
      }
      receiver.#chains.set(chainId(sender, epoch), {
        sender,
        epoch,
        signingKey: fromBase64Url(c['signingKey'], 32, 'signingKey'),
        chainKey: fromBase64Url(c['chainKey'], 32, 'chainKey'),
        iteration: u32(c['iteration'], 'iteration'),
        skipped,
      })
    }
    return receiver
  }
}
