// Issue 15, D11: deleted data stayed readable in the SQLite file and its WAL (a deleted
// account's key bundle, notes, User-Agents), and `npm start` made the database world-readable.
// Read here as an attacker with the disk would: the raw bytes of every file in the data folder.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newCredentials, randomB64, registerAccount, registerRequest, uniqueName } from '../../helpers/api.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'

let parent: string
let dataDir: string
let server: TestServer

beforeAll(async () => {
  parent = mkdtempSync(join(tmpdir(), 'tincan-d11-'))
  // A folder that does not exist yet: the server creates it, as `npm start` does with ./data.
  dataDir = join(parent, 'data')
  server = await startServer({ dataDir, env: { SQLITE_CHECKPOINT_S: '1' } })
})
afterAll(async () => {
  await server.close()
  rmSync(parent, { recursive: true, force: true })
})

/** Which of `markers` can be read anywhere in the data folder (database, WAL, shared memory). */
function onDisk(markers: readonly string[]): string[] {
  const bytes = readdirSync(dataDir).map((f) => readFileSync(join(dataDir, f)))
  return markers.filter((m) => bytes.some((b) => b.includes(m)))
}

describe('SQLite data at rest', () => {
  it('keeps nothing of a deleted account readable in the database file or its WAL', async () => {
    const keyBundle = randomB64(300)
    const userAgent = `Marker-Agent/${randomB64(12)}`
    const note = `marker note ${randomB64(12)}`
    const credentials = { ...newCredentials(uniqueName('leaver')), keyBundle }
    const registered = await server.api.raw('POST', '/api/register', {
      body: registerRequest(credentials),
      headers: { 'user-agent': userAgent },
    })
    const token = (registered.body as { token: string }).token
    const friend = await registerAccount(server.api, 'stays')
    await server.api.as(token).requestFriend(friend.username, note)
    const markers = [keyBundle, userAgent, note]
    // The test can see them: they are on disk while the account exists.
    await until('the account on disk', () => onDisk(markers).length === markers.length, 10_000)

    await server.api.as(token).deleteAccount(credentials.authKey)

    const left = await until(
      'the deleted account to leave the disk',
      () => onDisk(markers).length === 0 || undefined,
      10_000,
    ).then(
      () => [],
      () => onDisk(markers),
    )
    expect(left).toEqual([])
    expect((await friend.api.friendRequests()).incoming).toEqual([])
  })

  it('creates the data folder for the server alone (0700) and the database files 0600', async () => {
    await registerAccount(server.api, 'writer')
    const files = ['tincan.sqlite', 'tincan.sqlite-wal', 'tincan.sqlite-shm'].filter((f) =>
      existsSync(join(dataDir, f)),
    )

    expect(files).toContain('tincan.sqlite')
    expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700')
    for (const f of files)
      expect([f, (statSync(join(dataDir, f)).mode & 0o777).toString(8)]).toEqual([f, '600'])
  })
})
