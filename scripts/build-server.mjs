// `npm run build:server`: the server as one ES module, dist/server/main.mjs, its packages left
// as imports from node_modules. Run with plain `node`: under `node --import tsx` the TypeScript
// loader runs on a thread of its own beside the server, which held some 40 MiB for as long as
// the server ran (issue 17). `npm start` builds it at every start (a fraction of a second).
import { build } from 'esbuild'

await build({
  entryPoints: ['signaling/main.ts'],
  outfile: process.argv[2] ?? 'dist/server/main.mjs',
  bundle: true,
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Class and function names stay as written: logs and errors name them.
  keepNames: true,
  logLevel: 'warning',
})
