import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { serverNodeFlags } from '../scripts/server-node-flags.mjs'

/** A server node in a child process, so its memory and CPU are its own. */
export interface ServerProcess {
  readonly port: number
  readonly url: string
  readonly child: ChildProcess
  /** Resident set size of the server process, in bytes. */
  rssBytes(): number
  stop(): Promise<void>
  /** SIGKILL: the node dies at once, as in a crash; its data folder stays. */
  kill(): Promise<void>
}

export interface ServerProcessOptions {
  /** Listen here (a node restarted where its clients reconnect); a free port otherwise. */
  readonly port?: number
  /** SQLite data folder kept by the caller (a restarted node keeps its accounts); a fresh one otherwise. */
  readonly dataDir?: string
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      srv.close(() => resolve(port))
    })
    srv.on('error', reject)
  })
}

/**
 * Starts `script` (the Tincan server by default) with the bench's settings on a free port; it
 * must print a line containing "is running" once it listens. BENCH_CPU_PROF=<dir> writes a CPU
 * profile of each server process there (`node --cpu-prof`), BENCH_NODE_OPTIONS adds Node flags.
 */
let serverBuilt = false

/** The server's bundle, as `npm start` and the systemd unit run it (built once per bench run). */
function builtServer(): string {
  if (!serverBuilt) {
    const built = spawnSync(process.execPath, ['scripts/build-server.mjs'], { stdio: 'inherit' })
    if (built.status !== 0) throw new Error('npm run build:server failed')
    serverBuilt = true
  }
  return 'dist/server/main.mjs'
}

export async function startServerProcess(
  env: Record<string, string> = {},
  script = 'signaling/main.ts',
  options: ServerProcessOptions = {},
): Promise<ServerProcess> {
  // The Tincan server runs from its bundle, like in production; other scripts through tsx.
  const entry =
    script === 'signaling/main.ts' ? [...serverNodeFlags, '--', builtServer()] : ['--import', 'tsx', script]
  const port = options.port ?? (await freePort())
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'tincan-bench-'))
  const child = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_CPU_PROF] : []),
      ...(process.env.BENCH_NODE_OPTIONS?.split(' ').filter((o) => o !== '') ?? []),
      ...entry,
    ],
    {
      env: {
        ...process.env,
        PORT: String(port),
        DATA_DIR: dataDir,
        LOG_LEVEL: 'warn',
        CLIENT_DIR: dataDir,
        // The load generator is one address, on this machine: the per-address caps would cut it off.
        MAX_CONNECTIONS_PER_IP: '0',
        WS_MAX_UNAUTHENTICATED_PER_IP: '1000000',
        WS_MAX_PER_USER: '1000000',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('is running')) resolve()
    })
    child.on('exit', (code) => reject(new Error(`server exited with ${String(code)} before starting`)))
  })
  const pid = child.pid ?? 0
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    child,
    rssBytes() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
      return Number(kb ?? 0) * 1024
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await exited
      }
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true })
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGKILL')
      await exited
    },
  }
}

export const randomB64 = (n: number): string => randomBytes(n).toString('base64url')

export async function postJson<T>(url: string, body: unknown, token?: string): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

/** Registers a user with random key material; returns its session token. */
export async function registerUser(baseUrl: string, username: string): Promise<string> {
  const grant = await postJson<{ token: string }>(`${baseUrl}/api/register`, {
    username,
    salt: randomB64(16),
    kdf: { alg: 'argon2id13', opsLimit: 3, memLimitBytes: 67108864 },
    authKey: randomB64(32),
    identityKey: randomB64(32),
    keyBundle: randomB64(96),
  })
  return grant.token
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  async function worker(): Promise<void> {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return out
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
}
