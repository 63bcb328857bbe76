import { randomBytes } from 'node:crypto'
import pg from 'pg'

/**
 * Where tests look for PostgreSQL when TINCAN_TEST_POSTGRES_URL does not say: the machine's own,
 * trust auth. In vitest, the integration project's global setup decides (test/helpers/services-setup.ts).
 */
export const defaultPostgresUrl = 'postgres://postgres@127.0.0.1:5432/postgres'

export interface TestDatabase {
  readonly name: string
  /** DATABASE_URL for the server. */
  readonly url: string
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>
}

async function admin<T>(adminUrl: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.end()
  }
}

/**
 * A fresh, empty database `tincan_test_<random>` on the server at `adminUrl`. It sorts text by an English ICU collation
 * when the server has ICU, as many production databases do, so that code relying on byte
 * order is caught here and not in production.
 */
export async function createTestDatabase(adminUrl: string): Promise<TestDatabase> {
  const name = `tincan_test_${randomBytes(6).toString('hex')}`
  await admin(adminUrl, async (c) => {
    try {
      await c.query(
        `create database ${name} template template0 locale_provider icu icu_locale 'en-US' locale 'C.UTF-8'`,
      )
    } catch {
      await c.query(`create database ${name}`)
    }
  })
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    drop: () =>
      admin(adminUrl, async (c) => void (await c.query(`drop database if exists ${name} with (force)`))),
  }
}
