import { ByteReader, ByteWriter } from './binary-codec.ts'
import { equalBytes, fromBase64Url, randomBytes, toBase64Url } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { masterSubkey } from './password.ts'
import {
  assertEd25519,
  ed25519KeyPair,
  ed25519Sign,
  type KeyPair,
  x25519KeyPair,
  xchachaDecrypt,
  xchachaEncrypt,
  xchachaNonceBytes,
} from './primitives.ts'
import { sodium } from './sodium.ts'

/**
 * A user's long-term keys. The X25519 static key is generated on its own (not converted from
 * the Ed25519 key) and certified by an Ed25519 signature, so one key is never used in two
 * algorithms.
 */
export interface Identity {
  /** Ed25519; the public half is what friends pin and what safety numbers are computed from. */
  readonly identityKey: KeyPair
  /** X25519; the Noise static key. */
  readonly staticKey: KeyPair
  /** Ed25519 signature by `identityKey` over `staticSignatureMessage(staticKey.publicKey)`. */
  readonly staticSignature: Uint8Array
}

export interface PublicIdentity {
  readonly identityKey: Uint8Array
  readonly staticKey: Uint8Array
  readonly staticSignature: Uint8Array
}

/** JSON-safe form of an Identity, base64url fields. Contains secrets: store it only encrypted. */
export interface IdentityJson {
  readonly v: 1
  readonly identityPublicKey: string
  readonly identitySeed: string
  readonly staticPublicKey: string
  readonly staticSecretKey: string
  readonly staticSignature: string
}

export interface PublicIdentityJson {
  readonly v: 1
  readonly identityKey: string
  readonly staticKey: string
  readonly staticSignature: string
}

const staticSignatureLabel = 'tincan/v1/identity/static-key'
const bundleLabel = 'tincan/v1/identity/sealed-bundle'
const bundleVersion = 1

/** The bytes the identity key signs to certify a static key. */
export function staticSignatureMessage(staticPublicKey: Uint8Array): Uint8Array {
  return new ByteWriter().str(staticSignatureLabel).lp(staticPublicKey).finish()
}

export function generateIdentity(): Identity {
  const identityKey = ed25519KeyPair()
  const staticKey = x25519KeyPair()
  return {
    identityKey,
    staticKey,
    staticSignature: ed25519Sign(identityKey.secretKey, staticSignatureMessage(staticKey.publicKey)),
  }
}

export function publicIdentity(identity: Identity): PublicIdentity {
  return {
    identityKey: identity.identityKey.publicKey,
    staticKey: identity.staticKey.publicKey,
    staticSignature: identity.staticSignature,
  }
}

/** @throws CryptoError 'bad-signature' unless `identityKey` signed `staticKey`. */
export function verifyStaticKey(identityKey: Uint8Array, staticKey: Uint8Array, signature: Uint8Array): void {
  assertEd25519(signature, staticSignatureMessage(staticKey), identityKey, 'static key certificate')
}

function fromParts(seed: Uint8Array, staticSecret: Uint8Array, staticSignature: Uint8Array): Identity {
  const { publicKey, privateKey } = sodium().crypto_sign_seed_keypair(seed)
  const staticKey = x25519KeyPair(staticSecret)
  verifyStaticKey(publicKey, staticKey.publicKey, staticSignature)
  return { identityKey: { publicKey, secretKey: privateKey }, staticKey, staticSignature }
}

export function identityToJson(identity: Identity): IdentityJson {
  return {
    v: 1,
    identityPublicKey: toBase64Url(identity.identityKey.publicKey),
    identitySeed: toBase64Url(identity.identityKey.secretKey.subarray(0, 32)),
    staticPublicKey: toBase64Url(identity.staticKey.publicKey),
    staticSecretKey: toBase64Url(identity.staticKey.secretKey),
    staticSignature: toBase64Url(identity.staticSignature),
  }
}

/**
 * Parses and cross-checks every key against the others.
 * @throws CryptoError 'bad-format' for malformed JSON, 'untrusted-key' when a public key does
 * not match its secret, 'bad-signature' when the static key certificate is invalid.
 */
export function identityFromJson(json: unknown): Identity {
  if (typeof json !== 'object' || json === null)
    throw new CryptoError('bad-format', 'identity is not an object')
  const o = json as Record<string, unknown>
  if (o['v'] !== 1) throw new CryptoError('bad-format', 'unknown identity version')
  const identity = fromParts(
    fromBase64Url(o['identitySeed'], 32, 'identitySeed'),
    fromBase64Url(o['staticSecretKey'], 32, 'staticSecretKey'),
    fromBase64Url(o['staticSignature'], 64, 'staticSignature'),
  )
  const identityPublicKey = fromBase64Url(o['identityPublicKey'], 32, 'identityPublicKey')
  const staticPublicKey = fromBase64Url(o['staticPublicKey'], 32, 'staticPublicKey')
  if (
    !equalBytes(identityPublicKey, identity.identityKey.publicKey) ||
    !equalBytes(staticPublicKey, identity.staticKey.publicKey)
  ) {
    throw new CryptoError('untrusted-key', 'identity public keys do not match their secrets')
  }
  return identity
}

export function publicIdentityToJson(id: PublicIdentity): PublicIdentityJson {
  return {
    v: 1,
    identityKey: toBase64Url(id.identityKey),
    staticKey: toBase64Url(id.staticKey),
    staticSignature: toBase64Url(id.staticSignature),
  }
}

/**
 * @throws CryptoError 'bad-format' for malformed input, 'bad-signature' if the static key is
 * not certified by the identity key.
 */
export function publicIdentityFromJson(json: unknown): PublicIdentity {
  if (typeof json !== 'object' || json === null)
    throw new CryptoError('bad-format', 'identity is not an object')
  const o = json as Record<string, unknown>
  if (o['v'] !== 1) throw new CryptoError('bad-format', 'unknown identity version')
  const id = {
    identityKey: fromBase64Url(o['identityKey'], 32, 'identityKey'),
    staticKey: fromBase64Url(o['staticKey'], 32, 'staticKey'),
    staticSignature: fromBase64Url(o['staticSignature'], 64, 'staticSignature'),
  }
  verifyStaticKey(id.identityKey, id.staticKey, id.staticSignature)
  return id
}

// Sealed bundle (base64url of):
//   version u8 (=1) | identity public key (32) | nonce (24) |
//   XChaCha20-Poly1305( identity seed (32) | static secret (32) | static signature (64) )
// AD = lp(label) | version | identity public key: the server cannot pair a bundle with another account's key.

function bundleAd(identityPublicKey: Uint8Array): Uint8Array {
  return new ByteWriter().str(bundleLabel).u8(bundleVersion).raw(identityPublicKey).finish()
}

/** Encrypts the identity's secrets under a subkey of the master key, for the server to keep. */
export function sealIdentity(identity: Identity, masterKey: Uint8Array): string {
  const nonce = randomBytes(xchachaNonceBytes)
  const plaintext = new ByteWriter(128)
    .raw(identity.identityKey.secretKey.subarray(0, 32))
    .raw(identity.staticKey.secretKey)
    .raw(identity.staticSignature)
    .finish()
  const ct = xchachaEncrypt(
    masterSubkey(masterKey, 'identity-bundle'),
    nonce,
    plaintext,
    bundleAd(identity.identityKey.publicKey),
  )
  plaintext.fill(0)
  return toBase64Url(
    new ByteWriter().u8(bundleVersion).raw(identity.identityKey.publicKey).raw(nonce).raw(ct).finish(),
  )
}

/**
 * Opens a bundle from the server with the master key derived from the password.
 * `expectedIdentityKey` is the public key the account registered (or the one pinned locally).
 * @throws CryptoError 'bad-format' for a malformed bundle, 'decrypt-failed' for a wrong
 * password or altered bundle, 'untrusted-key' when the bundle belongs to another identity key,
 * 'bad-signature' if its static key certificate is invalid.
 */
export function unsealIdentity(
  sealed: string,
  masterKey: Uint8Array,
  expectedIdentityKey?: Uint8Array,
): Identity {
  const r = new ByteReader(fromBase64Url(sealed, undefined, 'sealed bundle'), 'sealed bundle')
  if (r.u8() !== bundleVersion) throw new CryptoError('bad-format', 'unknown sealed bundle version')
  const identityPublicKey = r.raw(32)
  if (expectedIdentityKey !== undefined && !equalBytes(identityPublicKey, expectedIdentityKey)) {
    throw new CryptoError('untrusted-key', 'sealed bundle is for another identity key')
  }
  const nonce = r.raw(xchachaNonceBytes)
  const pt = xchachaDecrypt(
    masterSubkey(masterKey, 'identity-bundle'),
    nonce,
    r.rest(),
    bundleAd(identityPublicKey),
  )
  const p = new ByteReader(pt, 'sealed bundle contents')
  const identity = fromParts(p.raw(32), p.raw(32), p.raw(64))
  p.end()
  pt.fill(0)
  if (!equalBytes(identity.identityKey.publicKey, identityPublicKey)) {
    throw new CryptoError('untrusted-key', 'sealed bundle secret does not match its public key')
  }
  return identity
}
