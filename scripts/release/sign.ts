import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  ed25519KeyPairFromSeed,
  equalBytes,
  fromBase64Url,
  initCrypto,
  signRelease,
  toBase64Url,
  verifyRelease,
} from '../../crypto/index.ts'
import { releaseSignatureName, type PublishedReleases } from '../../shared/release.ts'
import { inspectClientDir, readPublishedReleases, ReleaseConfigError } from './client-release.ts'

export interface SignOptions {
  /** The release key's 32-byte seed, base64url. */
  readonly secretSeed: string
  /** The public key the client was built with; the signature must verify under it. */
  readonly publicKey: string
  /** docs/releases.json to add the release to; nothing is published when undefined. */
  readonly publishedPath?: string
  /** Drop an entry published for the same version with another bundle (a release signed too early). */
  readonly replace?: boolean
}

/**
 * Signs the client built in `dir`: checks its files against its release.json, writes
 * release.sig beside them and, when asked, records the release in docs/releases.json.
 * @throws ReleaseConfigError when the client is missing or changed, or the key is not the build's.
 */
export async function signClientDir(
  dir: string,
  options: SignOptions,
): Promise<{ version: string; bundleHash: string; signature: string }> {
  await initCrypto()
  const pair = ed25519KeyPairFromSeed(fromBase64Url(options.secretSeed.trim(), 32, 'release secret key'))
  const publicKey = fromBase64Url(options.publicKey, 32, 'release public key')
  if (!equalBytes(pair.publicKey, publicKey))
    throw new ReleaseConfigError(
      'the secret key is not the release key this client was built with (TINCAN_RELEASE_PUBLIC_KEY or shared/release.ts)',
    )
  const state = await inspectClientDir(dir, options.publicKey)
  if (state.kind !== 'release')
    throw new ReleaseConfigError(
      `${dir}: ${state.kind === 'missing' ? 'no built client' : 'its files do not match its release.json'}`,
    )
  const { version, commit } = state.manifest
  const signature = toBase64Url(signRelease(pair.secretKey, version, state.bundleHash))
  pair.secretKey.fill(0)
  if (!verifyRelease(fromBase64Url(signature, 64), version, state.bundleHash, publicKey))
    throw new ReleaseConfigError('the new signature does not verify')
  writeFileSync(join(dir, releaseSignatureName), `${signature}\n`)

  if (options.publishedPath !== undefined) {
    const published: PublishedReleases = existsSync(options.publishedPath)
      ? readPublishedReleases(options.publishedPath)
      : { publicKey: options.publicKey, releases: [] }
    if (published.publicKey !== options.publicKey)
      throw new ReleaseConfigError(`${options.publishedPath} publishes another release key`)
    const entry = {
      version,
      ...(commit === undefined || commit.endsWith('-dirty') ? {} : { commit }),
      bundleHash: state.bundleHash,
      signature,
    }
    // The same release signed again replaces its entry; another bundle under the same version
    // is refused unless `replace` says the earlier one was signed too early.
    const releases = published.releases.filter(
      (r) => r.version !== version || (r.bundleHash !== state.bundleHash && options.replace !== true),
    )
    if (releases.some((r) => r.version === version))
      throw new ReleaseConfigError(
        `version ${version} is already published with another bundle: bump the version (or pass --replace)`,
      )
    const next: PublishedReleases = { publicKey: published.publicKey, releases: [...releases, entry] }
    writeFileSync(options.publishedPath, `${JSON.stringify(next, null, 2)}\n`)
  }
  return { version, bundleHash: state.bundleHash, signature }
}

/** The release key's seed from TINCAN_RELEASE_SECRET_KEY, or the file TINCAN_RELEASE_KEY_FILE names. */
export function secretSeedFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TINCAN_RELEASE_SECRET_KEY !== undefined && env.TINCAN_RELEASE_SECRET_KEY !== '')
    return env.TINCAN_RELEASE_SECRET_KEY
  if (env.TINCAN_RELEASE_KEY_FILE !== undefined && env.TINCAN_RELEASE_KEY_FILE !== '')
    return readFileSync(env.TINCAN_RELEASE_KEY_FILE, 'utf8')
  throw new ReleaseConfigError(
    'set TINCAN_RELEASE_KEY_FILE to the file holding the release key (or TINCAN_RELEASE_SECRET_KEY to the key)',
  )
}
