import { createHash } from 'node:crypto'
import { Value } from '@sinclair/typebox/value'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TincanClient, type ClientEnv } from '../../../client/core/client.ts'
import { DataError, type DataErrorCode } from '../../../client/core/export/errors.ts'
import { attachmentPath } from '../../../client/core/export/export-model.ts'
import { TincanExport } from '../../../client/core/export/export-schema.ts'
import type { FileSource } from '../../../client/core/files/file-source.ts'
import { groupDbName } from '../../../client/core/groups/group-db.ts'
import type { GroupView } from '../../../client/core/groups/groups.ts'
import { dbName } from '../../../client/core/store/db.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient, testPassword } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { MiB, patternSource, sha256OfSource, untilState } from '../files/helpers.ts'
import { tinyPng } from '../../unit/client/export/fixtures.ts'
import { groupTexts, untilTexts } from '../groups/helpers.ts'
import { readZip } from '../../unit/client/export/zip.ts'
import { groupConversationId } from '../../../client/core/index.ts'

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

/** Like `deleteDatabase`, but waits for connections still closing (a closed client's group database closes asynchronously). */
function deleteWhenClosed(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name)
    request.onsuccess = () => resolve()
    request.onerror = () => reject(request.error ?? new Error('deleteDatabase failed'))
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

    await alice.sendText(directConversationId(bob.username), 'hello bob 👋 <b>not bold</b>')
    for (let i = 0; i < 30; i++)
      await bob.sendText(directConversationId(alice.username), `reply ${i} — 北京 ☕`)
    const photo = await bob.sendFile(
      directConversationId(alice.username),
      bytesSource('holiday.png', 'image/png', tinyPng),
    )
    photoId = photo.fileId
    const offAccept = alice.on('file', (f) => {
      if (f.state === 'offered' && f.direction === 'in') void alice.acceptFile(f.fileId)
    })
    reportId = (await bob.sendFile(directConversationId(alice.username), report)).fileId
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
    await bob.sendText(directConversationId(username), 'still there?')
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

/**
 * Issue 7, groups: Bob backs up while in a group whose signed member list is at version 1 (so the
 * server's copy alone cannot bring it back: only the admin or the backup can) and in a group he
 * left (which the server no longer lists at all). With the admin offline, he clears his storage
 * and restores: both groups are back from the backup alone, and the message he sends next — under
 * a fresh sender key, since no sending state is restored — reaches the admin.
 */
describe('groups in the encrypted backup', () => {
  let server: TestServer
  let env: ClientEnv
  let ann: TincanClient
  let bob: TincanClient
  let cat: TincanClient

  beforeAll(async () => {
    server = await startServer()
    env = await nodeClientEnv(server.baseUrl)
    ann = await registerClient(env, 'ann')
    bob = await registerClient(env, 'bob')
    cat = await registerClient(env, 'cat')
    await befriend(ann, bob)
    await befriend(ann, cat)
  })

  afterAll(async () => {
    for (const c of [ann, bob, cat]) c.close()
    await server.close()
  })

  it('restores member lists, names, states and history; the restored member sends with a new key', async () => {
    const climbers = await ann.createGroup('Climbers', [bob.username, cat.username])
    await until('bob to see Climbers', () => bob.group(climbers.id)?.members.length === 3)
    await ann.removeGroupMembers(climbers.id, [cat.username])
    await until('bob to get version 1', () => bob.group(climbers.id)?.version === 1)
    cat.close()
    const club = await ann.createGroup('Old club', [bob.username])
    await until('bob to see Old club', () => bob.group(club.id) !== undefined)
    await bob.leaveGroup(club.id)

    const texts = ['ann: rope check 🧗', 'bob: on belay', 'ann: climbing']
    for (const t of texts)
      await (t.startsWith('ann') ? ann : bob).sendText(groupConversationId(climbers.id), t.slice(5))
    const bare = texts.map((t) => t.slice(5))
    await untilTexts(bob, climbers.id, bare)
    await untilTexts(ann, climbers.id, bare)

    const before = bob.group(climbers.id) as GroupView
    const history = await groupTexts(bob, climbers.id)
    const backup = await bob.createBackup(passphrase)

    // The admin goes offline; bob clears site data: both of his databases go.
    const annName = ann.username
    const bobName = bob.username
    ann.close()
    bob.close()
    await deleteWhenClosed(dbName(bobName))
    await deleteWhenClosed(groupDbName(bobName))
    bob = await TincanClient.login(env, bobName, testPassword)
    expect(bob.group(climbers.id)).toBeUndefined()
    expect(bob.group(club.id)).toBeUndefined()

    const summary = await bob.restoreBackup(backup, passphrase)
    expect(summary.added).toMatchObject({ groups: 2, messages: 3 })
    expect(summary.groupsRefused).toBe(0)
    const after = bob.group(climbers.id) as GroupView
    const pick = (v: GroupView) => ({
      name: v.name,
      admin: v.admin,
      state: v.state,
      version: v.version,
      members: v.members.map((m) => [m.username, m.admin]),
    })
    expect(pick(after)).toEqual(pick(before))
    expect(after).toMatchObject({ name: 'Climbers', admin: annName, state: 'active', version: 1 })
    expect(bob.group(club.id)).toMatchObject({ name: 'Old club', state: 'left' })
    expect(await groupTexts(bob, climbers.id)).toEqual(history)

    const again = await bob.restoreBackup(backup, passphrase)
    expect(again.added).toEqual({})
    expect(again.alreadyPresent).toMatchObject({ groups: 2 })
    expect(await groupTexts(bob, climbers.id)).toEqual(history)

    // The admin comes back: bob's next message, under a new sender key, reaches her, and hers reach him.
    ann = await TincanClient.login(env, annName, testPassword)
    await bob.sendText(groupConversationId(climbers.id), 'back from a restore')
    await untilTexts(ann, climbers.id, ['back from a restore'])
    await ann.sendText(groupConversationId(climbers.id), 'welcome back')
    await untilTexts(bob, climbers.id, ['welcome back'])
    // Caught up without a message twice.
    const final = await groupTexts(bob, climbers.id)
    expect(new Set(final).size).toBe(final.length)
  })
})
