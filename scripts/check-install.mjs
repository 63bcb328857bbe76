// The operators' install on a clean clone (issue 16): `npm ci --omit=dev && npm start` must
// build the client, say which client it serves, and answer `/` with the app and `/healthz`.
// It takes minutes (npm ci compiles better-sqlite3, the first start builds the client), so it
// is not part of `npm test`: .ci/run runs it after the tests, and `npm run check:install` by hand.
// It checks the last commit (a clone): commit first.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const repoRoot = resolve(import.meta.dirname, '..')
/** Covers a cold npm cache and a first build on a busy 2-core machine. */
const startTimeoutMs = 6 * 60_000
const started = Date.now()
const seconds = () => `${Math.round((Date.now() - started) / 1000)} s`

function fail(message, log = '') {
  if (log !== '') console.error(log.slice(-6000))
  console.error(`check:install FAILED: ${message}`)
  process.exit(1)
}

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: installEnv })
  const log = `${result.stdout ?? ''}${result.stderr ?? ''}`
  if (result.status !== 0)
    fail(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`, log)
  return log
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      srv.close(() => resolvePort(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

async function get(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) })
    return {
      status: response.status,
      type: response.headers.get('content-type') ?? '',
      body: await response.text(),
    }
  } catch {
    return undefined
  }
}

// An operator's shell: none of the variables a test run or CI sets for itself.
const installEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !k.startsWith('TINCAN_') && !k.startsWith('npm_') && k !== 'NODE_ENV',
  ),
)

const dir = mkdtempSync(join(tmpdir(), 'tincan-install-'))
let server
const cleanUp = () => {
  // The server runs in its own process group (detached): end npm, start.mjs and the server together.
  if (server?.pid !== undefined && server.exitCode === null) {
    try {
      process.kill(-server.pid, 'SIGTERM')
    } catch {
      // already gone
    }
  }
  if (process.env.KEEP_INSTALL_DIR === undefined) rmSync(dir, { recursive: true, force: true })
}
process.on('exit', cleanUp)
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1))

console.log(`== check:install in ${dir}`)
run('git', ['clone', '-q', repoRoot, dir], tmpdir())
run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], dir)
console.log(`npm ci --omit=dev: done after ${seconds()}`)
for (const devOnly of ['vitest', 'eslint', 'typescript', 'playwright-core'])
  if (existsSync(join(dir, 'node_modules', devOnly)))
    fail(`${devOnly} was installed: --omit=dev was not honoured`)

const port = await freePort()
let output = ''
server = spawn('npm', ['start'], {
  cwd: dir,
  env: { ...installEnv, PORT: String(port), HOST: '127.0.0.1' },
  stdio: ['ignore', 'pipe', 'pipe'],
  detached: true,
})
server.stdout.on('data', (c) => (output += c.toString()))
server.stderr.on('data', (c) => (output += c.toString()))

const base = `http://127.0.0.1:${port}`
let health
while (health?.status !== 200) {
  if (server.exitCode !== null) fail(`npm start exited with ${server.exitCode}`, output)
  if (Date.now() - started > startTimeoutMs)
    fail(`/healthz did not answer within ${startTimeoutMs / 1000} s`, output)
  await new Promise((r) => setTimeout(r, 1_000))
  health = await get(`${base}/healthz`)
}
console.log(`npm start: /healthz answered after ${seconds()}: ${health.body}`)
if (!/"status":"ok"/.test(health.body)) fail(`/healthz said ${health.body}`, output)

const hashLine = /^Web client .*: bundle sha256 [0-9a-f]{64} .*$/m.exec(output)
if (hashLine === null) fail('npm start did not print the bundle hash of the client it serves', output)
console.log(hashLine[0])

const page = await get(`${base}/`)
if (page?.status !== 200 || !page.type.startsWith('text/html') || !page.body.includes('<div id="app">'))
  fail(`/ did not answer with the app's page (status ${page?.status}, ${page?.type})`, output)
// The page's own script, as a browser would load it next: the build, not only index.html.
const script = /<script type="module"[^>]* src="([^"]+)"/.exec(page.body)?.[1]
const bundle = script === undefined ? undefined : await get(new URL(script, base).toString())
if (bundle?.status !== 200 || !/javascript/.test(bundle.type))
  fail(`the page's script ${script ?? '(none)'} did not load (status ${bundle?.status})`, output)
console.log(`/ serves the app (${page.body.length} bytes, script ${script}, ${bundle.body.length} bytes)`)
console.log(`check:install passed in ${seconds()}`)
process.exit(0)
