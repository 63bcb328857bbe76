import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { buildApp, type App } from '../../signaling/app.ts'
import { loadConfig, type Config } from '../../signaling/config.ts'
import { openStorage } from '../../signaling/storage/open.ts'
import { Api } from './api.ts'
import { createTestDatabase, type TestDatabase } from './postgres.ts'
import { serviceUrl } from './services.ts'

/** The repository root, so child processes find `signaling/main.ts` wherever vitest was started. */
export const repoRoot = resolve(import.meta.dirname, '../..')

/**
 * Environment every test server starts from. All test traffic comes from 127.0.0.1, so the
 * per-IP and per-account limits are raised out of the way; tests of the limits set them low.
 */
export const testEnv: Readonly<Record<string, string>> = {
  HOST: '127.0.0.1',
  LOG_LEVEL: 'silent',
  AUTH_RATE_PER_IP: '100000',
  AUTH_RATE_PER_USER: '100000',
  SEARCH_RATE: '100000',
  MAX_CONNECTIONS_PER_IP: '100000',
  WS_MAX_UNAUTHENTICATED_PER_IP: '100000',
  WS_MAX_PER_USER: '100000',
}

/**
 * `TINCAN_TEST_DATABASE=postgres` runs every test server on a fresh PostgreSQL database of its
 * own instead of SQLite (the database follows the data folder across restarts).
 */
const usePostgres = process.env['TINCAN_TEST_DATABASE'] === 'postgres'
const databases = new Map<string, TestDatabase>()

/** `TINCAN_TEST_REDIS=1` gives every test server the Redis hub (its own key prefix) instead of the in-process one. */
const useRedis = process.env['TINCAN_TEST_REDIS'] === '1'

async function databaseFor(dataDir: string, options: ServerOptions): Promise<Record<string, string>> {
  const hub: Record<string, string> =
    useRedis && options.env?.['REDIS_URL'] === undefined
      ? { REDIS_URL: serviceUrl('redis'), REDIS_PREFIX: `tincan-test:${basename(dataDir)}:` }
      : {}
  if (!usePostgres || options.env?.['DATABASE_URL'] !== undefined) return hub
  let db = databases.get(dataDir)
  if (db === undefined) {
    db = await createTestDatabase(serviceUrl('postgres'))
    databases.set(dataDir, db)
  }
  return { ...hub, DATABASE_URL: db.url }
}

export interface ServerOptions {
  /** Environment variables, as an operator would set them (`WS_FRAMES_PER_S: '5'`). */
  readonly env?: Readonly<Record<string, string>>
  /** Fields of the loaded Config replaced afterwards, for values the environment cannot express. */
  readonly config?: Partial<Config>
  /** Reuse this data folder instead of a fresh temporary one; it is then not deleted by close(). */
  readonly dataDir?: string
}

/** A real server in this process, listening on an ephemeral port of 127.0.0.1. */
export interface TestServer {
  readonly baseUrl: string
  /** The WebSocket endpoint, `ws://127.0.0.1:<port>/ws`. */
  readonly wsUrl: string
  readonly dataDir: string
  readonly config: Config
  /** The running app (changes after restart()). */
  readonly app: App
  /** An unauthenticated REST client for this server. */
  readonly api: Api
  /** Shuts down (clients are told to reconnect, then closed) and starts again on the same DATA_DIR and port. */
  restart(): Promise<void>
  /** Shuts down and deletes the data folder if this helper made it. */
  close(): Promise<void>
}

function configFor(dataDir: string, options: ServerOptions, database: Record<string, string>): Config {
  const env = {
    ...testEnv,
    CLIENT_DIR: join(dataDir, 'no-client'),
    ...database,
    ...options.env,
    PORT: '0',
    DATA_DIR: dataDir,
  }
  return { ...loadConfig(env), ...options.config }
}

async function listen(config: Config, port: number): Promise<{ app: App; port: number }> {
  const storage = await openStorage(config)
  const app = await buildApp(config, storage)
  try {
    await app.app.listen({ host: '127.0.0.1', port })
  } catch (e: unknown) {
    await app.shutdown(0)
    throw e
  }
  return { app, port: (app.app.server.address() as AddressInfo).port }
}

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const ownsDataDir = options.dataDir === undefined
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'tincan-test-'))
  const config = configFor(dataDir, options, await databaseFor(dataDir, options))
  let current = await listen(config, 0)
  let closed = false

  const server: TestServer = {
    get baseUrl() {
      return `http://127.0.0.1:${current.port}`
    },
    get wsUrl() {
      return `ws://127.0.0.1:${current.port}/ws`
    },
    dataDir,
    config,
    get app() {
      return current.app
    },
    get api() {
      return new Api(server.baseUrl)
    },
    async restart() {
      await current.app.shutdown(0)
      // Let clients in this process (fetch's keep-alive pool) see their connections close
      // before the port is reused, or their first request goes to a dead socket.
      await new Promise((resolve) => setTimeout(resolve, 50))
      try {
        current = await listen(config, current.port)
      } catch (e: unknown) {
        // Another process took the port in the meantime: any free one will do.
        if ((e as { code?: unknown }).code !== 'EADDRINUSE') throw e
        current = await listen(config, 0)
      }
    },
    async close() {
      if (closed) return
      closed = true
      await current.app.shutdown(0)
      if (ownsDataDir) {
        rmSync(dataDir, { recursive: true, force: true })
        await databases.get(dataDir)?.drop()
        databases.delete(dataDir)
      }
    },
  }
  return server
}

/** A server in a child process (`node --import tsx signaling/main.ts`), for signals and exit codes. */
export interface ServerProcess {
  readonly baseUrl: string
  readonly wsUrl: string
  readonly port: number
  readonly dataDir: string
  readonly child: ChildProcess
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Sends SIGTERM (or another signal) if still running, waits for exit, and deletes the data folder. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Runs `signaling/main.ts` with the given arguments and environment until it exits. */
export function runServerCommand(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): { child: ChildProcess; output: () => string; exited: ServerProcess['exited'] } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'signaling/main.ts'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  )
  return { child, output: () => out, exited }
}

/** Starts the server as a child process on an ephemeral port and waits until it says it is running. */
export async function startServerProcess(
  options: {
    env?: Readonly<Record<string, string>>
    startTimeoutMs?: number
    /** Reuse this data folder (and its test database); it is then not deleted by stop(). */
    dataDir?: string
    /** Listen on this port instead of an ephemeral one (to come back where clients expect it). */
    port?: number
  } = {},
): Promise<ServerProcess> {
  const ownsDataDir = options.dataDir === undefined
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'tincan-proc-'))
  const database = await databaseFor(dataDir, options)
  const dropDatabase = async (): Promise<void> => {
    if (!ownsDataDir) return
    await databases.get(dataDir)?.drop()
    databases.delete(dataDir)
  }
  const removeDataDir = (): void => {
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true })
  }
  const run = runServerCommand([], {
    ...testEnv,
    LOG_LEVEL: 'warn',
    CLIENT_DIR: join(dataDir, 'no-client'),
    ...database,
    ...options.env,
    PORT: String(options.port ?? 0),
    DATA_DIR: dataDir,
  })
  const timeoutMs = options.startTimeoutMs ?? 30_000
  let port: number
  try {
    port = await new Promise<number>((done, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`server did not start in ${timeoutMs} ms:\n${run.output()}`)),
        timeoutMs,
      )
      const check = (): void => {
        const match = /Tincan is running at http:\/\/[^:\s]+:(\d+)/.exec(run.output())
        if (match?.[1] !== undefined) {
          clearTimeout(timer)
          done(Number(match[1]))
        }
      }
      run.child.stdout?.on('data', check)
      void run.exited.then(({ code }) => {
        clearTimeout(timer)
        fail(new Error(`server exited with ${String(code)} before starting:\n${run.output()}`))
      })
    })
  } catch (e: unknown) {
    run.child.kill('SIGKILL')
    removeDataDir()
    await dropDatabase()
    throw e
  }
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    port,
    dataDir,
    child: run.child,
    output: run.output,
    exited: run.exited,
    async stop(signal = 'SIGTERM') {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill(signal)
      const result = await run.exited
      removeDataDir()
      await dropDatabase()
      return result
    },
  }
}
