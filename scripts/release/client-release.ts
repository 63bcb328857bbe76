// The built web client as a release: its files' hashes, its manifest (release.json) and the
// signature (release.sig) that docs/releases.json publishes for it. Used by the build
// (vite.config.ts), `npm start`, `npm run client:hash` and `npm run release:sign`.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, posix, relative, sep } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { fromBase64Url, initCrypto, releaseBundleHash, verifyRelease } from '../../crypto/index.ts'
import {
  projectReleasePublicKey,
  PublishedReleases,
  ReleaseManifest,
  releaseManifestName,
  releaseSignatureName,
} from '../../shared/release.ts'

export const repoRoot = join(import.meta.dirname, '..', '..')

/** Where the signed releases are published: in the repository, beside the code they name. */
export function publishedReleasesPath(root: string = repoRoot): string {
  return join(root, 'docs', 'releases.json')
}

/** Every file under `dir` except the manifest and its signature: path (with `/`) → SHA-256 hex. */
export function hashClientDir(dir: string): Record<string, string> {
  const files: Record<string, string> = {}
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const full = join(at, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.isFile()) {
        const path = relative(dir, full).split(sep).join(posix.sep)
        if (path === releaseManifestName || path === releaseSignatureName) continue
        files[path] = createHash('sha256').update(readFileSync(full)).digest('hex')
      }
    }
  }
  walk(dir)
  return files
}

/**
 * Adds `integrity` (SHA-384, Subresource Integrity) to the scripts and stylesheets index.html
 * names, so a browser refuses to run one whose bytes changed while index.html did not.
 * Scripts loaded later (libsodium's chunk, the workers) are not covered: the release check is.
 */
export function addSubresourceIntegrity(dir: string): number {
  const htmlPath = join(dir, 'index.html')
  let added = 0
  const html = readFileSync(htmlPath, 'utf8').replace(
    /<(script|link)\b([^>]*?)\s(src|href)="\/([A-Za-z0-9._/-]+\.(?:js|css))"([^>]*)>/g,
    (whole, tag: string, before: string, attr: string, path: string, after: string) => {
      if (/\sintegrity=/.test(whole)) return whole
      const digest = createHash('sha384')
        .update(readFileSync(join(dir, path)))
        .digest('base64')
      added++
      return `<${tag}${before} ${attr}="/${path}" integrity="sha384-${digest}"${after}>`
    },
  )
  writeFileSync(htmlPath, html)
  return added
}

/** The checkout's commit, with `-dirty` when tracked or untracked files differ from it; undefined outside git. */
export function gitCommit(root: string = repoRoot): string | undefined {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const commit = git('rev-parse', 'HEAD')
    if (!/^[0-9a-f]{40}$/.test(commit)) return undefined
    return git('status', '--porcelain') === '' ? commit : `${commit}-dirty`
  } catch {
    return undefined
  }
}

export class ReleaseConfigError extends Error {
  override readonly name = 'ReleaseConfigError'
}

/** The release public key a build compiles in: TINCAN_RELEASE_PUBLIC_KEY when set, else the project's. */
export function releasePublicKey(env: NodeJS.ProcessEnv = process.env): string {
  const key = env.TINCAN_RELEASE_PUBLIC_KEY ?? projectReleasePublicKey
  if (!/^[A-Za-z0-9_-]{43}$/.test(key))
    throw new ReleaseConfigError(
      'TINCAN_RELEASE_PUBLIC_KEY must be an Ed25519 public key in base64url (43 characters)',
    )
  return key
}

/**
 * docs/releases.json, checked against its schema.
 * @throws ReleaseConfigError when it is missing fields or malformed.
 */
export function readPublishedReleases(path: string = publishedReleasesPath()): PublishedReleases {
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'))
  if (!Value.Check(PublishedReleases, parsed))
    throw new ReleaseConfigError(`${path} does not match its schema`)
  return parsed
}

/**
 * The published signature for exactly this version and bundle, if it verifies under `publicKey`.
 * A build made with another key (a test key, a fork's) gets none.
 */
export async function publishedSignature(
  version: string,
  bundleHash: string,
  publicKey: string,
  path: string = publishedReleasesPath(),
): Promise<string | undefined> {
  if (!existsSync(path)) return undefined
  const published = readPublishedReleases(path)
  if (published.publicKey !== publicKey) return undefined
  await initCrypto()
  const key = fromBase64Url(publicKey, 32, 'release public key')
  const entry = published.releases.find((r) => r.version === version && r.bundleHash === bundleHash)
  if (entry === undefined) return undefined
  return verifyRelease(fromBase64Url(entry.signature, 64, 'signature'), version, bundleHash, key)
    ? entry.signature
    : undefined
}

export interface WriteReleaseOptions {
  readonly version: string
  readonly commit: string | undefined
  readonly publicKey: string
  readonly publishedPath?: string
}

/**
 * Writes `dir/release.json` for the files in `dir`, and in `dir/release.sig` the signature the
 * project published for this very bundle, if any: reproducibility is what lets a self-built
 * client carry the project's signature.
 */
export async function writeRelease(
  dir: string,
  options: WriteReleaseOptions,
): Promise<{ manifest: ReleaseManifest; signed: boolean }> {
  await initCrypto()
  const files = hashClientDir(dir)
  const manifest: ReleaseManifest = {
    format: 1,
    version: options.version,
    ...(options.commit === undefined ? {} : { commit: options.commit }),
    bundleHash: releaseBundleHash(files),
    files,
  }
  if (!Value.Check(ReleaseManifest, manifest))
    throw new ReleaseConfigError(
      `the built client does not fit release.json's schema (version ${options.version})`,
    )
  writeFileSync(join(dir, releaseManifestName), `${JSON.stringify(manifest, null, 2)}\n`)
  const signature = await publishedSignature(
    manifest.version,
    manifest.bundleHash,
    options.publicKey,
    options.publishedPath,
  )
  // Empty when unsigned, so a page's check finds a file either way and logs no 404.
  writeFileSync(join(dir, releaseSignatureName), signature === undefined ? '' : `${signature}\n`)
  return { manifest, signed: signature !== undefined }
}

/** What is in a client directory, recomputed from its files rather than taken from its manifest. */
export type ClientDirState =
  | { readonly kind: 'missing' }
  | { readonly kind: 'no-manifest'; readonly bundleHash: string }
  | { readonly kind: 'modified'; readonly bundleHash: string; readonly manifest: ReleaseManifest }
  | {
      readonly kind: 'release'
      readonly bundleHash: string
      readonly manifest: ReleaseManifest
      readonly signed: boolean
    }

export async function inspectClientDir(dir: string, publicKey: string): Promise<ClientDirState> {
  if (!existsSync(join(dir, 'index.html'))) return { kind: 'missing' }
  await initCrypto()
  const bundleHash = releaseBundleHash(hashClientDir(dir))
  const manifestPath = join(dir, releaseManifestName)
  let manifest: unknown
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8'))
  } catch {
    return { kind: 'no-manifest', bundleHash }
  }
  if (!Value.Check(ReleaseManifest, manifest)) return { kind: 'no-manifest', bundleHash }
  if (manifest.bundleHash !== bundleHash) return { kind: 'modified', bundleHash, manifest }
  let signed = false
  try {
    const signature = readFileSync(join(dir, releaseSignatureName), 'utf8').trim()
    signed = verifyRelease(
      fromBase64Url(signature, 64, 'release.sig'),
      manifest.version,
      bundleHash,
      fromBase64Url(publicKey, 32, 'release public key'),
    )
  } catch {
    // No signature file, or no signature in it: an unsigned build.
  }
  return { kind: 'release', bundleHash, manifest, signed }
}

/** One line about a client directory, for `npm start` and `npm run client:hash`. */
export function describeClientDir(state: ClientDirState): string {
  switch (state.kind) {
    case 'missing':
      return 'Web client: not built'
    case 'no-manifest':
      return `Web client: bundle sha256 ${state.bundleHash} (no release.json: rebuild with npm run build)`
    case 'modified':
      return `Web client ${state.manifest.version}: bundle sha256 ${state.bundleHash} — CHANGED since it was built (release.json says ${state.manifest.bundleHash})`
    case 'release':
      return `Web client ${state.manifest.version}: bundle sha256 ${state.bundleHash} (${state.signed ? 'signed release' : 'not a signed release'})`
    default: {
      const unreachable: never = state
      return unreachable
    }
  }
}
