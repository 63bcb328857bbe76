import { createHash } from 'node:crypto'
import { Value } from '@sinclair/typebox/value'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TincanClient, type ClientEnv } from '../../../client/core/client.ts'
import { DataError, type DataErrorCode } from '../../../client/core/export/errors.ts'
import { attachmentPath } from '../../../client/core/export/export-model.ts'
import { TincanExport } from '../../../client/core/export/export-schema.ts'
import type { FileSource } from '../../../client/core/files/file-source.ts'
import { dbName } from '../../../client/core/store/db.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient, testPassword } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { MiB, patternSource, sha256OfSource, untilState } from '../files/helpers.ts'
import { tinyPng } from '../../unit/client/export/fixtures.ts'
import { hasPython, readZip } from '../../unit/client/export/zip.ts'

const passphrase = 'correct horse battery staple, but for backups'
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

function bytesSource(name: string, type: string, bytes: Uint8Array): FileSource {
  return {
    name,
    type,
    size: bytes.length,
    read: (offset, length) => Promise.resolve(bytes.slice(offset, offset + length)),
  }
}

/** Everything of alice's account a user would notice on a device. */
async function snapshot(client: TincanClient) {
  const conversations = await client.conversations()
  const messages: Record<string, unknown[]> = {}
  const files: Record<string, string> = {}
  for (const c of conversations) {
    const all = await client.loadMessages(c.id, undefined, 100_000)
    messages[c.id] = all
    for (const m of all) {
      const f = m.content.file
      if (f === undefined || (await client.fileTransfer(f.fileId))?.available !== true) continue
      files[f.fileId] = sha256(new Uint8Array(await (await client.openFile(f.fileId)).arrayBuffer()))
    }
  }
  const friends = (await client.friendViews()).map((f) => ({ username: f.username, verified: f.verified }))
  return { conversations, messages, files, friends }
}

function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name)
    request.onsuccess = () => resolve()
    request.onerror = () => reject(request.error ?? new Error('deleteDatabase failed'))
    request.onblocked = () => reject(new Error(`deleting ${name} is blocked by an open connection`))
  })
}

/**
 * Issue 7: alice and bob chat and swap files over real WebRTC; alice exports (offline), backs up,
 * clears her browser's storage, logs in again and restores.
 */
describe('export, backup and restore between real clients', () => {
  let server: TestServer
  let env: ClientEnv
  let fetchCalls = 0
  let alice: TincanClient
  let bob: TincanClient
  const report = patternSource('report.pdf', 3 * MiB, 71, 'application/pdf')
  let reportHash: string
  let photoId: string
  let reportId: string

  beforeAll(async () => {
    server = await startServer()
    const base = await nodeClientEnv(server.baseUrl)
    env = {
      ...base,
      fetch: (input, init) => {
        fetchCalls++
        return fetch(input, init)
      },
    }
    alice = await registerClient(env, 'alice')
    bob = await registerClient(env, 'bob')
    await befriend(alice, bob)
    reportHash = await sha256OfSource(report)

    await alice.sendText(bob.username, 'hello bob 👋 <b>not bold</b>')
    for (let i = 0; i < 30; i++) await bob.sendText(alice.username, `reply ${i} — 北京 ☕`)
    const photo = await bob.sendFile(alice.username, bytesSource('holiday.png', 'image/png', tinyPng))
    photoId = photo.fileId
    const offAccept = alice.on('file', (f) => {
      if (f.state === 'offered' && f.direction === 'in') void alice.acceptFile(f.fileId)
    })
    reportId = (await bob.sendFile(alice.username, report)).fileId
    await untilState(alice, photoId, ['done'])
    await untilState(alice, reportId, ['done'], 90_000)
    offAccept()
    await until(
      'alice has every message',
      async () =>
        (await alice.loadMessages(directConversationId(bob.username), undefined, 1000)).length === 33,
    )
    await until('alice’s message delivered', async () =>
      (await alice.loadMessages(directConversationId(bob.username))).every(
        (m) => m.author !== alice.username || m.state === 'delivered' || m.state === 'read',
      ),
    )
    await alice.setVerified(bob.username, true)
  })

  afterAll(async () => {
    alice.close()
    bob.close()
    await server.close()
  })

  it('exports JSON, HTML and the attachments without calling the server', async () => {
    const before = fetchCalls
    const json = JSON.parse(await (await alice.exportJson()).text()) as TincanExport
    const html = await (await alice.exportHtml()).text()
    const zip = await alice.exportAttachmentsZip()
    expect(fetchCalls).toBe(before)

    expect([...Value.Errors(TincanExport, json)].map((e) => `${e.path}: ${e.message}`)).toEqual([])
    const conv = json.conversations.find((c) => c.peer === bob.username)
    expect(conv?.messageCount).toBe(33)
    expect(conv?.messages.map((m) => m.text)).toContain('hello bob 👋 <b>not bold</b>')
    expect(html).toContain('hello bob 👋 &lt;b&gt;not bold&lt;/b&gt;')
    expect(html).toContain(`<img src="data:image/png;base64,${Buffer.from(tinyPng).toString('base64')}"`)

    if (!hasPython) return
    const listing = await readZip(zip)
    expect(listing.bad).toBeNull()
    expect(Object.fromEntries(listing.entries.map((e) => [e.name, e.sha256]))).toEqual({
      [attachmentPath(photoId, 'holiday.png')]: sha256(tinyPng),
      [attachmentPath(reportId, 'report.pdf')]: reportHash,
    })
  })

  it('restores everything after the browser’s storage is cleared, and a second restore adds nothing', async () => {
    const before = fetchCalls
    const backup = await alice.createBackup(passphrase)
    expect(fetchCalls).toBe(before)
    const original = await snapshot(alice)
    expect(Object.values(original.files).sort()).toEqual([reportHash, sha256(tinyPng)].sort())

    // Clear site data: the account's database goes, with its vault key.
    const username = alice.username
    alice.close()
    await deleteDatabase(dbName(username))
    alice = await TincanClient.login(env, username, testPassword)
    expect(await alice.conversations()).toEqual([])

    const summary = await alice.restoreBackup(backup, passphrase)
    expect(summary.added).toMatchObject({ messages: 33, conversations: 1, files: 2 })
    expect(summary.keyConflicts).toEqual([])
    expect(await snapshot(alice)).toEqual(original)
    expect((await alice.search('北京')).length).toBe(30)

    const again = await alice.restoreBackup(backup, passphrase)
    expect(again.added).toEqual({})
    expect(await snapshot(alice)).toEqual(original)

    // The restored account goes on chatting: a fresh session with bob, same history.
    await bob.sendText(username, 'still there?')
    await until('the new message after the restore', async () =>
      (await alice.loadMessages(directConversationId(bob.username))).some(
        (m) => m.content.text === 'still there?',
      ),
    )
  })

  it('refuses a wrong passphrase and a truncated or altered backup, changing nothing', async () => {
    const backup = await alice.createBackup(passphrase)
    const before = await snapshot(alice)
    const bytes = new Uint8Array(await backup.arrayBuffer())
    const middle = Math.floor(bytes.length / 2)
    bytes[middle] = (bytes[middle] ?? 0) ^ 0x10
    const cases: [Blob, string, DataErrorCode][] = [
      [backup, 'wrong passphrase entirely', 'wrong-passphrase'],
      [backup.slice(0, backup.size - 100), passphrase, 'damaged'],
      [new Blob([bytes]), passphrase, 'damaged'],
    ]
    for (const [blob, pass, code] of cases) {
      const error = await alice.restoreBackup(blob, pass).catch((e: unknown) => e)
      expect(DataError.is(error, code), `${code}: got ${String(error)}`).toBe(true)
      expect(await snapshot(alice)).toEqual(before)
    }
    // Bob cannot restore alice's backup into his account, even with her passphrase.
    const bobBefore = await snapshot(bob)
    const error = await bob.restoreBackup(backup, passphrase).catch((e: unknown) => e)
    expect(DataError.is(error, 'wrong-account')).toBe(true)
    expect(await snapshot(bob)).toEqual(bobBefore)
  })
})
