import { toHex, utf8Encode } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { sha256 } from './hkdf.ts'
import { ed25519Sign, ed25519Verify } from './primitives.ts'

/** Path → SHA-256 (lower-case hex) of every file of a web client release. */
export type ReleaseFiles = Readonly<Record<string, string>>

const sha256HexPattern = /^[0-9a-f]{64}$/

/**
 * The text the bundle hash is taken over: one `<sha256>  <path>` line per file, sorted by path.
 * It is exactly what `sha256sum` prints, so anyone can recompute the hash without Tincan:
 *
 *     cd dist/client && find . -type f ! -name release.json ! -name release.sig -printf '%P\n' \
 *       | LC_ALL=C sort | xargs sha256sum | sha256sum
 *
 * Paths are ASCII (the manifest schema enforces it), so sorting by UTF-16 unit is byte order.
 * @throws CryptoError 'bad-format' if a hash is not 64 lower-case hex digits or a path has a line break.
 */
export function releaseManifestText(files: ReleaseFiles): string {
  const paths = Object.keys(files).sort()
  let text = ''
  for (const path of paths) {
    const hash = files[path] ?? ''
    if (!sha256HexPattern.test(hash)) throw new CryptoError('bad-format', `${path}: not a SHA-256 hex digest`)
    if (/[\r\n]/.test(path)) throw new CryptoError('bad-format', 'a release path contains a line break')
    text += `${hash}  ${path}\n`
  }
  return text
}

/** The bundle hash: SHA-256 (hex) of `releaseManifestText(files)`. */
export function releaseBundleHash(files: ReleaseFiles): string {
  return toHex(sha256(utf8Encode(releaseManifestText(files))))
}

export function sha256Hex(bytes: Uint8Array): string {
  return toHex(sha256(bytes))
}

/**
 * The exact bytes a release signature covers. Only the version and the bundle hash: the commit
 * is not signed, so any commit that builds to the same bytes carries the same signature.
 */
export function releaseStatement(version: string, bundleHash: string): Uint8Array {
  if (!sha256HexPattern.test(bundleHash))
    throw new CryptoError('bad-format', 'bundle hash is not SHA-256 hex')
  if (!/^[0-9A-Za-z.+-]{1,64}$/.test(version))
    throw new CryptoError('bad-format', 'release version is malformed')
  return utf8Encode(`tincan release v1\nversion ${version}\nbundle ${bundleHash}\n`)
}

/**
 * Signs a release with the release key (the 64-byte libsodium secret key).
 * @throws CryptoError 'bad-format' for a malformed version, hash or key.
 */
export function signRelease(secretKey: Uint8Array, version: string, bundleHash: string): Uint8Array {
  return ed25519Sign(secretKey, releaseStatement(version, bundleHash))
}

/** True only when `signature` is the release key's over this version and bundle hash; never throws. */
export function verifyRelease(
  signature: Uint8Array,
  version: string,
  bundleHash: string,
  publicKey: Uint8Array,
): boolean {
  let statement: Uint8Array
  try {
    statement = releaseStatement(version, bundleHash)
  } catch {
    return false
  }
  return ed25519Verify(signature, statement, publicKey)
}
