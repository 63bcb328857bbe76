// `npm start`: build the web client if it is not built, say which client is served (its bundle
// hash, to compare with a build of the same commit or docs/releases.json), then run the server.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { serverNodeFlags } from './server-node-flags.mjs'

const clientDir = resolve(process.env.CLIENT_DIR ?? './dist/client')
const wantsHelp = process.argv.includes('--help') || process.argv.includes('-h')

if (!wantsHelp && !existsSync(resolve(clientDir, 'index.html'))) {
  console.warn('Building the web client (first start only)…')
  const built = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build'], { stdio: 'inherit' })
  if (built.status !== 0) process.exit(built.status ?? 1)
}

if (!wantsHelp) {
  try {
    const { tsImport } = await import('tsx/esm/api')
    const release = await tsImport('./release/client-release.ts', import.meta.url)
    console.log(
      release.describeClientDir(await release.inspectClientDir(clientDir, release.releasePublicKey())),
    )
  } catch (e) {
    console.warn(`Could not hash the web client: ${e instanceof Error ? e.message : String(e)}`)
  }
}

// The server runs from its bundle (scripts/build-server.mjs), built from the sources at every
// start: without a TypeScript loader beside it, it needs some 40 MiB less.
const builtServer = spawnSync(process.execPath, ['scripts/build-server.mjs'], { stdio: 'inherit' })
if (builtServer.status !== 0) process.exit(builtServer.status ?? 1)
const server = spawn(
  process.execPath,
  [...serverNodeFlags, 'dist/server/main.mjs', ...process.argv.slice(2)],
  {
    stdio: 'inherit',
  },
)
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.kill(signal))
server.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 0)))
