// Issue 16, item 7: on a machine with only Node.js, `npm test` passes. Suites that need PostgreSQL
// or Redis say in one line what they need and are skipped; with TINCAN_REQUIRE_SERVICES=1 (CI) a
// missing service fails the run instead. Vitest is run here as a newcomer would run it, on two
// of those suites, with both services pointed at a port where nothing listens.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { embeddedPostgresUnavailable } from '../../helpers/embedded-postgres.ts'
import { freeTcpPort } from '../../helpers/ports.ts'
import { repoRoot } from '../../helpers/server.ts'
import { serviceOrSkip } from '../../helpers/services.ts'

interface JsonReport {
  readonly success: boolean
  readonly testResults: readonly {
    readonly name: string
    readonly assertionResults: readonly { readonly fullName: string; readonly status: string }[]
  }[]
}

const suites = ['test/integration/storage/storage.test.ts', 'test/integration/scale/redis-hub.test.ts']
const workDir = mkdtempSync(join(tmpdir(), 'tincan-services-'))
afterAll(() => rmSync(workDir, { recursive: true, force: true }))

/** `vitest run` on the suites, in a clean environment, with nothing listening where the services should be. */
async function newcomerRun(
  extraEnv: Record<string, string>,
  files: readonly string[] = suites,
): Promise<{
  status: number | null
  output: string
  report: JsonReport
}> {
  const closed = await freeTcpPort()
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('VITEST') && !k.startsWith('TINCAN_') && k !== 'NODE_ENV' && k !== 'CI') env[k] = v
  const reportFile = join(workDir, `report-${closed}.json`)
  const run = spawnSync(
    process.execPath,
    [
      'node_modules/vitest/vitest.mjs',
      'run',
      '--project',
      'integration',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${reportFile}`,
      ...files,
    ],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 150_000,
      env: {
        ...env,
        NO_COLOR: '1',
        TINCAN_TEST_POSTGRES_URL: `postgres://postgres@127.0.0.1:${closed}/postgres`,
        TINCAN_TEST_REDIS_URL: `redis://127.0.0.1:${closed}`,
        ...extraEnv,
      },
    },
  )
  return {
    status: run.status,
    output: `${run.stdout}${run.stderr}`,
    report: JSON.parse(readFileSync(reportFile, 'utf8')) as JsonReport,
  }
}

function statuses(report: JsonReport, file: string): Map<string, string> {
  const results = report.testResults.find((r) => r.name.endsWith(file))?.assertionResults ?? []
  return new Map(results.map((r) => [r.fullName, r.status]))
}

describe('a test run on a machine without PostgreSQL or Redis', () => {
  it('skips what needs them with one line each, runs the rest, and passes', async () => {
    const { status, output, report } = await newcomerRun({})

    expect(status).toBe(0)
    expect(report.success).toBe(true)
    expect(output).toMatch(
      /^storage on PostgreSQL skipped: needs PostgreSQL \(nothing answers at 127\.0\.0\.1:\d+/m,
    )
    expect(output).toMatch(/^RedisHub skipped: needs Redis \(nothing answers at 127\.0\.0\.1:\d+/m)

    const storage = statuses(report, 'storage/storage.test.ts')
    const onSqlite = [...storage].filter(([name]) => name.startsWith('storage on SQLite'))
    const onPostgres = [...storage].filter(([name]) => name.startsWith('storage on PostgreSQL'))
    expect(onSqlite.length).toBeGreaterThan(5)
    expect(onSqlite.every(([, s]) => s === 'passed')).toBe(true)
    expect(onPostgres.length).toBe(onSqlite.length)
    expect(onPostgres.every(([, s]) => s === 'skipped' || s === 'pending')).toBe(true)
    const redis = [...statuses(report, 'scale/redis-hub.test.ts').values()]
    expect(redis.length).toBeGreaterThan(0)
    expect(redis.every((s) => s === 'skipped' || s === 'pending')).toBe(true)
  })

  it('fails instead, naming what is missing, under TINCAN_REQUIRE_SERVICES=1 (as in CI)', async () => {
    const { status, output, report } = await newcomerRun({ TINCAN_REQUIRE_SERVICES: '1' })

    expect(status).not.toBe(0)
    expect(report.success).toBe(false)
    expect(output).toContain('storage on PostgreSQL cannot run: needs PostgreSQL')
    expect(output).toContain('RedisHub cannot run: needs Redis')
    expect(output).toContain('TINCAN_REQUIRE_SERVICES=1 makes that a failure')
  })
})

const embeddedPostgres = serviceOrSkip(
  embeddedPostgresUnavailable() === undefined ? true : undefined,
  'the embedded PostgreSQL',
  `a machine it can run on (${embeddedPostgresUnavailable() ?? ''})`,
)

// Skipped only as root without a `postgres` user, and TINCAN_REQUIRE_SERVICES not set (serviceOrSkip says so).
describe.skipIf(embeddedPostgres === undefined)('a test run on a machine without a PostgreSQL server', () => {
  // TINCAN_TEST_POSTGRES_URL=embedded stands for "nothing answers at 127.0.0.1:5432" here, where one does.
  it('runs the PostgreSQL suites on a real PostgreSQL of its own, and passes', async () => {
    const { status, output, report } = await newcomerRun({ TINCAN_TEST_POSTGRES_URL: 'embedded' }, [
      'test/integration/storage/storage.test.ts',
    ])

    expect(status).toBe(0)
    expect(output).toContain('PostgreSQL: the tests run their own (embedded-postgres)')
    expect(output).not.toContain('skipped: needs PostgreSQL')
    const onPostgres = [...statuses(report, 'storage/storage.test.ts')].filter(([name]) =>
      name.startsWith('storage on PostgreSQL'),
    )
    expect(onPostgres.length).toBeGreaterThan(5)
    expect(onPostgres.filter(([, s]) => s !== 'passed')).toEqual([])
  })
})
