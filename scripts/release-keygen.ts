// `npm run release:keygen -- <file>`: makes a release key. Writes its secret seed (base64url) to
// <file>, readable by you alone, and prints the public key to build with
// (TINCAN_RELEASE_PUBLIC_KEY, or `projectReleasePublicKey` in shared/release.ts for the project).
import { writeFileSync } from 'node:fs'
import { ed25519KeyPairFromSeed, initCrypto, randomBytes, toBase64Url } from '../crypto/index.ts'

const file = process.argv[2]
if (file === undefined || file.startsWith('-')) {
  console.error('usage: npm run release:keygen -- <file for the secret key, kept off the server>')
  process.exit(2)
}
await initCrypto()
const seed = randomBytes(32)
try {
  // 'wx': never overwrite a key that may already sign releases.
  writeFileSync(file, `${toBase64Url(seed)}\n`, { mode: 0o600, flag: 'wx' })
} catch (e: unknown) {
  console.error(`release:keygen: cannot write ${file}: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
}
console.log(`Release public key: ${toBase64Url(ed25519KeyPairFromSeed(seed).publicKey)}`)
seed.fill(0)
