// `npm run release:sign [-- --replace] [dir]`: signs the built client (dist/client) with the
// release key, kept out of the repository (TINCAN_RELEASE_KEY_FILE or TINCAN_RELEASE_SECRET_KEY),
// writes its release.sig and adds the release to docs/releases.json. Build first
// (`npm run build`) from a clean checkout of the commit being released; --replace drops an entry
// signed earlier for the same version.
import { resolve } from 'node:path'
import {
  publishedReleasesPath,
  releasePublicKey,
  ReleaseConfigError,
  repoRoot,
} from './release/client-release.ts'
import { secretSeedFromEnv, signClientDir } from './release/sign.ts'

const args = process.argv.slice(2)
const replace = args.includes('--replace')
const dir = resolve(args.find((a) => !a.startsWith('--')) ?? resolve(repoRoot, 'dist', 'client'))
try {
  const publicKey = releasePublicKey()
  const signed = await signClientDir(dir, {
    secretSeed: secretSeedFromEnv(),
    publicKey,
    replace,
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
