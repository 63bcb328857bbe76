// `npm run client:hash [dir]`: the bundle hash of a built client, recomputed from its files,
// and whether the Tincan release key signed it. Exit 0 for a signed release, 1 otherwise.
import { resolve } from 'node:path'
import { describeClientDir, inspectClientDir, releasePublicKey, repoRoot } from './release/client-release.ts'

const dir = resolve(process.argv[2] ?? resolve(repoRoot, 'dist', 'client'))
const state = await inspectClientDir(dir, releasePublicKey())
console.log(describeClientDir(state))
if (state.kind === 'release' && state.manifest.commit !== undefined)
  console.log(`Built from commit ${state.manifest.commit}`)
process.exit(state.kind === 'release' && state.signed ? 0 : 1)
