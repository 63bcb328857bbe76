// `npm run release:sign [dir]`: signs the built client (dist/client) with the release key, kept
// out of the repository (TINCAN_RELEASE_KEY_FILE or TINCAN_RELEASE_SECRET_KEY), writes its
// release.sig and adds the release to docs/releases.json. Build first (`npm run build`) from a
// clean checkout of the commit being released.
import { resolve } from 'node:path'
import {
  publishedReleasesPath,
  releasePublicKey,
  ReleaseConfigError,
  repoRoot,
} from './release/client-release.ts'
import { secretSeedFromEnv, signClientDir } from './release/sign.ts'

const dir = resolve(process.argv[2] ?? resolve(repoRoot, 'dist', 'client'))
try {
  const publicKey = releasePublicKey()
  const signed = await signClientDir(dir, {
    secretSeed: secretSeedFromEnv(),
    publicKey,
    // Only the project's key publishes into the repository's list.
    ...(process.env.TINCAN_RELEASE_PUBLIC_KEY === undefined
      ? { publishedPath: publishedReleasesPath() }
      : {}),
  })
  console.log(`Signed Tincan ${signed.version}, bundle sha256 ${signed.bundleHash}`)
} catch (e: unknown) {
  if (!(e instanceof ReleaseConfigError)) throw e
  console.error(`release:sign: ${e.message}`)
  process.exit(1)
}
