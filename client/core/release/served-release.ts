import { Value } from '@sinclair/typebox/value'
import {
  fromBase64Url,
  initCrypto,
  releaseBundleHash,
  sha256Hex,
  verifyRelease,
} from '../../../crypto/index.ts'
import { parseJson } from '../../../shared/decode.ts'
import { TincanError } from '../errors.ts'
import {
  ReleaseManifest,
  releaseLimits,
  releaseManifestName,
  releaseSignatureName,
} from '../../../shared/release.ts'

export type Fetch = (url: string, init: RequestInit) => Promise<Response>

/** A release the server serves now, every one of its files checked against its manifest. */
export interface ServedRelease {
  readonly version: string
  readonly commit: string | undefined
  readonly bundleHash: string
  readonly paths: readonly string[]
  /** The release key signed exactly this version and bundle hash. */
  readonly signed: boolean
}

/** Why what the server serves is not one coherent release. */
export type IncoherentReason =
  /** release.json is gone. */
  | 'no-manifest'
  /** release.json does not parse, fit its schema, or hash to its own bundle hash. */
  | 'bad-manifest'
  /** A file the manifest lists is not served. */
  | 'file-missing'
  /** A file is served with other bytes than the manifest lists (an implant appended to a script). */
  | 'file-changed'
  /** More bytes than any client could be. */
  | 'too-large'

export type ServedCheck =
  | { readonly kind: 'release'; readonly release: ServedRelease }
  | { readonly kind: 'incoherent'; readonly reason: IncoherentReason; readonly path?: string }
  /** The server could not be asked (offline, restarting, overloaded): no verdict either way. */
  | { readonly kind: 'unreachable' }

export interface ServedReleaseDeps {
  readonly fetch: Fetch
  readonly origin: string
  /** The release public key compiled into the running page. */
  readonly publicKey: Uint8Array
}

/** Stops the check; never leaves this module (it becomes a ServedCheck). */
class Unreachable extends TincanError<'unreachable'> {
  override readonly name = 'Unreachable'
  constructor(message: string, options?: { cause?: unknown }) {
    super('unreachable', message, options)
  }
}
class Incoherent extends TincanError<IncoherentReason> {
  override readonly name = 'Incoherent'
  constructor(
    readonly reason: IncoherentReason,
    readonly path?: string,
  ) {
    super(reason, reason)
  }
}

/**
 * Downloads what the server serves as the client now (release.json, every file it lists, and
 * release.sig) and checks it: the files against the manifest, the manifest against its bundle
 * hash, the signature against the compiled-in release key. Never reports a release it did not
 * verify; a failed request is `unreachable`, never a pass.
 */
export async function checkServedRelease(deps: ServedReleaseDeps): Promise<ServedCheck> {
  let budget: number = releaseLimits.maxReleaseBytes
  const get = async (path: string, cache: RequestCache): Promise<Uint8Array | undefined> => {
    let response: Response
    try {
      response = await deps.fetch(new URL(`/${path}`, deps.origin).href, {
        cache,
        credentials: 'omit',
        redirect: 'error',
      })
    } catch (e: unknown) {
      throw new Unreachable(path, { cause: e })
    }
    if (response.status === 404 || response.status === 410) return undefined
    if (response.status !== 200) throw new Unreachable(`${path}: HTTP ${response.status}`)
    let bytes: Uint8Array
    try {
      bytes = new Uint8Array(await response.arrayBuffer())
    } catch (e: unknown) {
      throw new Unreachable(path, { cause: e })
    }
    budget -= bytes.length
    if (budget < 0) throw new Incoherent('too-large', path)
    return bytes
  }

  try {
    // The manifest and signature are never taken from the cache; files are revalidated (ETag).
    const manifestBytes = await get(releaseManifestName, 'no-store')
    if (manifestBytes === undefined) throw new Incoherent('no-manifest')
    if (manifestBytes.length > releaseLimits.maxManifestBytes)
      throw new Incoherent('too-large', releaseManifestName)
    const parsed = parseJson(new TextDecoder().decode(manifestBytes), releaseLimits.maxManifestBytes)
    if (!parsed.ok || !Value.Check(ReleaseManifest, parsed.value)) throw new Incoherent('bad-manifest')
    const manifest = parsed.value
    if (releaseBundleHash(manifest.files) !== manifest.bundleHash) throw new Incoherent('bad-manifest')

    const paths = Object.keys(manifest.files).sort()
    for (const path of paths) {
      const bytes = await get(path, 'no-cache')
      if (bytes === undefined) throw new Incoherent('file-missing', path)
      if (sha256Hex(bytes) !== manifest.files[path]) throw new Incoherent('file-changed', path)
    }

    const signatureBytes = await get(releaseSignatureName, 'no-store')
    let signed = false
    if (signatureBytes !== undefined && signatureBytes.length < 256) {
      try {
        const signature = fromBase64Url(new TextDecoder().decode(signatureBytes).trim(), 64, 'release.sig')
        signed = verifyRelease(signature, manifest.version, manifest.bundleHash, deps.publicKey)
      } catch {
        // A malformed signature (or the empty file of an unsigned build) is no signature.
      }
    }
    return {
      kind: 'release',
      release: {
        version: manifest.version,
        commit: manifest.commit,
        bundleHash: manifest.bundleHash,
        paths,
        signed,
      },
    }
  } catch (e: unknown) {
    if (e instanceof Unreachable) return { kind: 'unreachable' }
    if (e instanceof Incoherent)
      return e.path === undefined
        ? { kind: 'incoherent', reason: e.reason }
        : { kind: 'incoherent', reason: e.reason, path: e.path }
    throw e
  }
}

/**
 * A check of what the page's origin serves against the release key compiled into the running
 * client (`publicKey`, base64url). Loads libsodium first.
 */
export async function servedReleaseChecker(
  origin: string,
  publicKey: string,
  fetchFn: ServedReleaseDeps['fetch'],
): Promise<() => Promise<ServedCheck>> {
  await initCrypto()
  const key = fromBase64Url(publicKey, 32, 'release public key')
  return () => checkServedRelease({ fetch: fetchFn, origin, publicKey: key })
}
