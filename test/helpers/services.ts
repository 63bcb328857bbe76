import { inject } from 'vitest'
import { defaultPostgresUrl } from './postgres.ts'

/**
 * The programs outside Node.js that some suites need: PostgreSQL, Redis, coturn, Chromium.
 * A newcomer's `npm test` skips a suite whose service is missing, with one line saying what it
 * needs; TINCAN_REQUIRE_SERVICES=1 (set by .ci/run) makes a missing service a failure instead.
 */
export const servicesRequired = process.env['TINCAN_REQUIRE_SERVICES'] === '1'

/** What the integration project's global setup found (test/helpers/services-setup.ts). */
export interface ServiceState {
  /** The URL to use, or undefined when the service cannot be had. */
  readonly url: string | undefined
  /** Why it is missing, for the one line a skipped suite prints. */
  readonly missing: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: ServiceState
    redis: ServiceState
  }
}

/**
 * `found` when there, else one line and undefined (the caller's suite is skipped) — or, under
 * TINCAN_REQUIRE_SERVICES=1, an error that fails the file.
 */
export function serviceOrSkip<T>(found: T | undefined, suite: string, needs: string): T | undefined {
  if (found !== undefined) return found
  if (servicesRequired)
    throw new Error(`${suite} cannot run: needs ${needs}, and TINCAN_REQUIRE_SERVICES=1 makes that a failure`)
  console.warn(`${suite} skipped: needs ${needs}`)
  return undefined
}

const serviceNames = { postgres: 'PostgreSQL', redis: 'Redis' } as const
type ServiceName = keyof typeof serviceNames

/**
 * The URLs of the services a suite needs, or undefined — with one line naming what is missing —
 * when any cannot be had (the suite is then skipped), or an error under TINCAN_REQUIRE_SERVICES=1.
 */
export function servicesOrSkip<K extends ServiceName>(
  suite: string,
  names: readonly K[],
): Record<K, string> | undefined {
  const found: Partial<Record<K, string>> = {}
  const missing: string[] = []
  for (const name of names) {
    const state = inject(name) as ServiceState | undefined
    if (state === undefined)
      throw new Error(`${suite}: only the integration project looks for ${serviceNames[name]}`)
    if (state.url === undefined) missing.push(`${serviceNames[name]} (${state.missing})`)
    else found[name] = state.url
  }
  return serviceOrSkip(
    missing.length === 0 ? (found as Record<K, string>) : undefined,
    suite,
    missing.join(' and '),
  )
}

/** The PostgreSQL admin URL for createTestDatabase, or undefined (with one line) when none can be had. */
export function postgresOrSkip(suite: string): string | undefined {
  return servicesOrSkip(suite, ['postgres'])?.postgres
}

/** The Redis URL, or undefined (with one line) when nothing answers there. */
export function redisOrSkip(suite: string): string | undefined {
  return servicesOrSkip(suite, ['redis'])?.redis
}

/**
 * For the modes that put every test server on a service (TINCAN_TEST_DATABASE=postgres,
 * TINCAN_TEST_REDIS=1): its URL, or an error saying why there is none. Projects without the
 * global setup (e2e) take the URL from the environment.
 */
export function serviceUrl(name: 'postgres' | 'redis'): string {
  const state = inject(name) as ServiceState | undefined
  if (state === undefined)
    return name === 'postgres'
      ? process.env['TINCAN_TEST_POSTGRES_URL'] || defaultPostgresUrl
      : process.env['TINCAN_TEST_REDIS_URL'] || 'redis://127.0.0.1:6379'
  if (state.url === undefined) throw new Error(`the test servers were asked to use ${name}: ${state.missing}`)
  return state.url
}
