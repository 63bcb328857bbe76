import { ByteReader, ByteWriter } from './binary-codec.ts'
import { equalBytes } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { type Identity, verifyStaticKey } from './identity.ts'
import { type CipherState, NoiseHandshake } from './noise.ts'
import { type KeyPair, x25519KeyPair } from './primitives.ts'
import type { RatchetInit } from './ratchet.ts'
import { normalizeFingerprint } from './sdp-fingerprints.ts'

// Tincan's session handshake: Noise_XX_25519_ChaChaPoly_SHA256 over the data channel.
//   -> e                       payload: empty
//   <- e, ee, s, es            payload: responder's identity payload
//   -> s, se                   payload: initiator's identity payload
// Identity payload: version u8 (=1) | Ed25519 identity key (32) | signature over the static key (64) |
//                   X25519 initial ratchet key (32)
// Prologue: lp(label) | lp(session id) | lp(initiator DTLS fingerprint) | lp(responder DTLS fingerprint),
// so a handshake relayed between two different DTLS connections fails.

const prologueLabel = 'tincan/v1/noise-xx-prologue'
const payloadVersion = 1
const payloadBytes = 1 + 32 + 64 + 32

export interface HandshakeOptions {
  readonly role: 'initiator' | 'responder'
  readonly identity: Identity
  readonly sessionId: string
  /** DTLS fingerprints as each side saw them in the SDP actually applied. */
  readonly initiatorFingerprint: string
  readonly responderFingerprint: string
  /** The peer's identity key as pinned locally; anything else aborts the handshake. */
  readonly pinnedRemoteIdentityKey: Uint8Array
}

export interface HandshakeResult {
  /** Channel binding; also the ratchet's associated-data prefix. */
  readonly handshakeHash: Uint8Array
  readonly remoteIdentityKey: Uint8Array
  readonly remoteStaticKey: Uint8Array
  /** Noise transport cipher states; Tincan uses the ratchet instead, they are here for completeness. */
  readonly send: CipherState
  readonly receive: CipherState
  /** Input for `RatchetSession.create`. */
  readonly ratchetInit: RatchetInit
}

/** @throws CryptoError 'bad-format' if a fingerprint is unreadable. */
export function handshakePrologue(
  sessionId: string,
  initiatorFingerprint: string,
  responderFingerprint: string,
): Uint8Array {
  return new ByteWriter()
    .str(prologueLabel)
    .str(sessionId)
    .str(normalizeFingerprint(initiatorFingerprint))
    .str(normalizeFingerprint(responderFingerprint))
    .finish()
}

/**
 * The handshake as a message-driven state machine: call `writeMessage` when `isMyTurn`, feed
 * every received message to `readMessage`, and take `result()` once `isComplete`. Any failure
 * aborts it; start a new one (new data channel or new session id).
 */
export class Handshake {
  readonly #role: 'initiator' | 'responder'
  readonly #identity: Identity
  readonly #pinned: Uint8Array
  readonly #noise: NoiseHandshake
  readonly #ratchetKey: KeyPair = x25519KeyPair()
  #remote: { identityKey: Uint8Array; ratchetKey: Uint8Array } | null = null
  #result: HandshakeResult | null = null
  #failed = false

  /** @throws CryptoError 'bad-format' for unreadable fingerprints or a pinned key of the wrong size. */
  constructor(options: HandshakeOptions) {
    if (options.pinnedRemoteIdentityKey.length !== 32)
      throw new CryptoError('bad-format', 'pinned key must be 32 bytes')
    this.#role = options.role
    this.#identity = options.identity
    this.#pinned = options.pinnedRemoteIdentityKey.slice()
    this.#noise = new NoiseHandshake({
      pattern: 'XX',
      initiator: options.role === 'initiator',
      prologue: handshakePrologue(
        options.sessionId,
        options.initiatorFingerprint,
        options.responderFingerprint,
      ),
      staticKeyPair: options.identity.staticKey,
    })
  }

  get isMyTurn(): boolean {
    return this.#noise.isMyTurn
  }

  get isComplete(): boolean {
    return this.#result !== null
  }

  /** @throws CryptoError 'bad-state' out of turn or after a failure, 'low-order-key'. */
  writeMessage(): Uint8Array {
    return this.#guard(() => {
      const carriesIdentity = this.#role === 'responder' || this.#remote !== null
      const message = this.#noise.writeMessage(carriesIdentity ? this.#payload() : new Uint8Array(0))
      this.#finishIfDone()
      return message
    })
  }

  /**
   * @throws CryptoError 'bad-state' out of turn or after a failure, 'bad-format' for malformed
   * messages, 'decrypt-failed' for tampered ones (including a different prologue: other session
   * id or DTLS fingerprints), 'low-order-key', and 'untrusted-key' when the peer's identity key
   * is not the pinned one or did not sign its static key.
   */
  readMessage(message: Uint8Array): void {
    this.#guard(() => {
      const payload = this.#noise.readMessage(message)
      if (this.#remote === null && (this.#role === 'initiator' || this.#noise.isComplete)) {
        this.#remote = this.#verifyPayload(payload)
      } else if (payload.length !== 0) {
        throw new CryptoError('bad-format', 'unexpected handshake payload')
      }
      this.#finishIfDone()
    })
  }

  /** Any failure aborts the handshake for good: a half-verified peer must not be resumed. */
  #guard<T>(step: () => T): T {
    if (this.#failed) throw new CryptoError('bad-state', 'handshake already failed')
    try {
      return step()
    } catch (e) {
      this.#failed = true
      throw e
    }
  }

  /** @throws CryptoError 'bad-state' before completion. */
  result(): HandshakeResult {
    if (this.#result === null) throw new CryptoError('bad-state', 'handshake not complete')
    return this.#result
  }

  #payload(): Uint8Array {
    return new ByteWriter(payloadBytes)
      .u8(payloadVersion)
      .raw(this.#identity.identityKey.publicKey)
      .raw(this.#identity.staticSignature)
      .raw(this.#ratchetKey.publicKey)
      .finish()
  }

  #verifyPayload(payload: Uint8Array): { identityKey: Uint8Array; ratchetKey: Uint8Array } {
    const r = new ByteReader(payload, 'handshake payload')
    if (r.u8() !== payloadVersion) throw new CryptoError('bad-format', 'unknown handshake payload version')
    const identityKey = r.raw(32)
    const signature = r.raw(64)
    const ratchetKey = r.raw(32)
    r.end()
    const staticKey = this.#noise.remoteStaticKey
    if (staticKey === undefined) throw new CryptoError('bad-state', 'remote static key missing')
    if (!equalBytes(identityKey, this.#pinned)) {
      throw new CryptoError('untrusted-key', 'peer identity key is not the pinned one')
    }
    try {
      verifyStaticKey(identityKey, staticKey, signature)
    } catch (cause) {
      throw new CryptoError('untrusted-key', 'peer static key is not signed by its identity key', { cause })
    }
    return { identityKey, ratchetKey }
  }

  #finishIfDone(): void {
    if (!this.#noise.isComplete || this.#result !== null) return
    const remote = this.#remote
    const staticKey = this.#noise.remoteStaticKey
    if (remote === null || staticKey === undefined) throw new CryptoError('bad-state', 'peer not verified')
    const split = this.#noise.split()
    this.#result = {
      handshakeHash: split.handshakeHash,
      remoteIdentityKey: remote.identityKey,
      remoteStaticKey: staticKey,
      send: split.send,
      receive: split.receive,
      ratchetInit: {
        role: this.#role,
        rootKey: split.exportedSecret,
        associatedData: split.handshakeHash,
        ownRatchetKeyPair: this.#ratchetKey,
        remoteRatchetKey: remote.ratchetKey,
      },
    }
  }
}
