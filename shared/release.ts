import { Type, type Static } from '@sinclair/typebox'

/**
 * The Tincan project's release public key (Ed25519, base64url). Its secret half never enters the
 * repository. A build compiles this key (or TINCAN_RELEASE_PUBLIC_KEY) into the page, which then
 * takes a changed client as an update only when this key signed it. Published releases and their
 * signatures are in docs/releases.json.
 */
export const projectReleasePublicKey = 'JWH2i5FusV0EbRY8WrOsSLHarmaI4v8RInAC3gMaZVE'

/** The files a release describes but does not contain: the manifest and its signature. */
export const releaseManifestName = 'release.json'
export const releaseSignatureName = 'release.sig'

export const releaseLimits = {
  /** Bytes of release.json a page reads before giving up on it. */
  maxManifestBytes: 256 * 1024,
  maxFiles: 1000,
  /** Bytes a page downloads for one check, all files together (today's client is ~2.3 MB). */
  maxReleaseBytes: 64 * 1024 * 1024,
} as const

/**
 * A path under the client's root: ASCII segments that do not start with a dot, so no `..`, no
 * hidden file, no scheme or host, and sorting is byte order.
 */
export const ReleasePath = Type.String({
  maxLength: 200,
  pattern: '^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$',
})

export const Sha256Hex = Type.String({ pattern: '^[0-9a-f]{64}$' })

/** Semantic version core with an optional pre-release tag: 1.2.3, 1.2.3-rc.1. */
export const ReleaseVersion = Type.String({
  pattern: '^\\d{1,6}\\.\\d{1,6}\\.\\d{1,6}(-[0-9A-Za-z.-]{1,32})?$',
})

/** `dist/client/release.json`, written by every build (vite.config.ts). */
export const ReleaseManifest = Type.Object(
  {
    format: Type.Literal(1),
    version: ReleaseVersion,
    /** The git commit the build came from, with `-dirty` when the tree had changes; not signed. */
    commit: Type.Optional(Type.String({ pattern: '^[0-9a-f]{40}(-dirty)?$' })),
    bundleHash: Sha256Hex,
    files: Type.Record(ReleasePath, Sha256Hex, {
      minProperties: 1,
      maxProperties: releaseLimits.maxFiles,
      additionalProperties: false,
    }),
  },
  { additionalProperties: false },
)
export type ReleaseManifest = Static<typeof ReleaseManifest>

const Signature64 = Type.String({ minLength: 86, maxLength: 86, pattern: '^[A-Za-z0-9_-]+$' })

export const PublishedRelease = Type.Object(
  {
    version: ReleaseVersion,
    commit: Type.Optional(Type.String({ pattern: '^[0-9a-f]{40}$' })),
    bundleHash: Sha256Hex,
    /** Ed25519 over `releaseStatement(version, bundleHash)` (crypto/release.ts), base64url. */
    signature: Signature64,
  },
  { additionalProperties: false },
)
export type PublishedRelease = Static<typeof PublishedRelease>

/** `docs/releases.json`: the release key and every signed release, oldest first. */
export const PublishedReleases = Type.Object(
  {
    publicKey: Type.String({ minLength: 43, maxLength: 43, pattern: '^[A-Za-z0-9_-]+$' }),
    releases: Type.Array(PublishedRelease),
  },
  { additionalProperties: false },
)
export type PublishedReleases = Static<typeof PublishedReleases>

/**
 * Orders two `ReleaseVersion`s by their numeric core; a pre-release sorts before its release
 * and pre-release tags compare as text. Negative, zero or positive like a sort comparator.
 */
export function compareVersions(a: string, b: string): number {
  const split = (v: string): [number[], string | undefined] => {
    const dash = v.indexOf('-')
    const core = dash < 0 ? v : v.slice(0, dash)
    return [core.split('.').map(Number), dash < 0 ? undefined : v.slice(dash + 1)]
  }
  const [coreA, tagA] = split(a)
  const [coreB, tagB] = split(b)
  for (let i = 0; i < 3; i++) {
    const d = (coreA[i] ?? 0) - (coreB[i] ?? 0)
    if (d !== 0) return d
  }
  if (tagA === tagB) return 0
  if (tagA === undefined) return 1
  if (tagB === undefined) return -1
  return tagA < tagB ? -1 : 1
}
