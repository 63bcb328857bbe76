import { createHash } from 'node:crypto'
import { openDB, type IDBPDatabase } from 'idb'
import { beforeAll, describe, expect, it } from 'vitest'
import { createBackup } from '../../../../client/core/export/backup-create.ts'
import { restoreBackup, type RestoreSummary } from '../../../../client/core/export/backup-restore.ts'
import { DataError, type DataErrorCode } from '../../../../client/core/export/errors.ts'
import { readStoredFile } from '../../../../client/core/files/read.ts'
import { dbVersion, type ContactRecord, type Db } from '../../../../client/core/store/db.ts'
import { directConversationId, History } from '../../../../client/core/store/history.ts'
import { FileStore } from '../../../../client/core/files/file-store.ts'
import {
  createMemberList,
  generateIdentity,
  generateVaultKey,
  initCrypto,
  nextMemberList,
  randomBytes,
  toBase64Url,
  type KdfParams,
  type SignedMemberList,
} from '../../../../crypto/index.ts'
import type { GroupRestoreCounts, PortableGroupValue } from '../../../../client/core/groups/group-backup.ts'
import { addMessage, allMessages, freshDevice, storeFile, tinyPng, type Device } from './fixtures.ts'

// Argon2id stays cheap here (the format and its real parameters are tested in test/unit/crypto).
const cheapKdf: KdfParams = { algorithm: 'argon2id13', opsLimit: 1, memLimitBytes: 8192 }
const cheap = { crypto: { kdfParams: cheapKdf, minimums: cheapKdf } }
const passphrase = 'a long and careful passphrase'
const now = Date.UTC(2025, 0, 15, 12, 0)

const restore = (target: Device, blob: Blob, pass = passphrase): Promise<RestoreSummary> =>
  restoreBackup(target, blob, pass, { now, minimums: cheapKdf })

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

async function put(db: Db, contact: ContactRecord): Promise<void> {
  await db.put('contacts', contact)
}

const key = (c: string) => c.repeat(43)

/** What a user sees of the account on a device, and what a restore must bring back. */
async function snapshot(d: Device) {
  const conversations = await d.history.conversations()
  const messages: Record<string, unknown[]> = {}
  for (const c of conversations)
    messages[c.id] = (await allMessages(d, c.id)).filter(
      (m) => m.expiresAt === undefined || m.expiresAt > now,
    )
  const files: Record<string, unknown> = {}
  for (const r of await d.db.getAll('files')) {
    const meta = d.files.meta(r)
    const { sealed: _s, ...rest } = r
    let hash: string | null = null
    if (r.state === 'done') {
      const parts: Uint8Array[] = []
      for await (const p of readStoredFile(d.files, r, meta, 8)) parts.push(p)
      hash = sha256(Buffer.concat(parts))
    }
    files[r.fileId] = { ...rest, meta, hash, chunks: await d.files.countChunks(r.fileId) }
  }
  const contacts = (await d.db.getAll('contacts')).sort((a, b) => a.username.localeCompare(b.username))
  return { conversations, messages, files, contacts }
}

let source: Device
let backup: Blob
let photoHash: string
let halfId: string

beforeAll(async () => {
  await initCrypto()
  source = await freshDevice('alice')
  await put(source.db, {
    username: 'bob',
    identityKey: key('B'),
    pendingKey: null,
    verified: true,
    addedAt: 1,
  })
  await put(source.db, {
    username: 'carol',
    identityKey: key('C'),
    pendingKey: null,
    verified: false,
    addedAt: 2,
  })
  await put(source.db, {
    username: 'dave',
    identityKey: key('D'),
    pendingKey: key('E'),
    verified: false,
    addedAt: 3,
  })
  const first = await addMessage(source, 'bob', 'bob', { text: 'the meeting is at noon 北京' })
  await addMessage(source, 'bob', 'alice', {
    text: 'see you there',
    replyTo: { id: first.id, author: 'bob', excerpt: 'the meeting' },
    reactions: [{ author: 'bob', emoji: '👍', at: now - 10 }],
    editedAt: now - 5,
  })
  await addMessage(source, 'bob', 'alice', { text: '', deleted: true, deletedAt: now - 3 })
  await addMessage(
    source,
    'bob',
    'bob',
    { text: 'this one disappears later' },
    { expiresAt: now + 3_600_000 },
  )
  await addMessage(source, 'bob', 'bob', { text: 'this one is gone already' }, { expiresAt: now - 1 })
  const photo = await storeFile(source, { peer: 'bob', name: 'photo.png', mime: 'image/png', bytes: tinyPng })
  photoHash = sha256(tinyPng)
  await addMessage(source, 'bob', 'bob', { text: 'photo.png', file: photo.content })
  const sent = await storeFile(source, {
    peer: 'bob',
    name: 'slides.pdf',
    mime: 'application/pdf',
    bytes: randomBytes(10_000),
    direction: 'out',
    chunkSize: 4096,
  })
  await addMessage(source, 'bob', 'alice', { text: 'slides.pdf', file: sent.content })
  const partial = await storeFile(source, {
    peer: 'bob',
    name: 'half.bin',
    mime: '',
    bytes: randomBytes(3000),
    state: 'transferring',
  })
  halfId = partial.fileId
  await addMessage(source, 'bob', 'bob', { text: 'half.bin', file: partial.content })
  for (let i = 0; i < 1200; i++)
    await addMessage(source, 'carol', i % 3 === 0 ? 'alice' : 'carol', { text: `note ${i} about lunch` })
  const conv = await source.db.get('conversations', directConversationId('bob'))
  if (conv !== undefined)
    await source.db.put('conversations', { ...conv, timer: { seconds: 3600, setAt: 5, setBy: 'bob' } })
  backup = (await createBackup(source, passphrase, { now, ...cheap })).blob
})

describe('encrypted backup and restore', () => {
  it('brings back conversations, messages, contacts, pins and files into a fresh device', async () => {
    const target = await freshDevice('alice')
    const summary = await restore(target, backup)
    // The unfinished transfer is checked below: it comes back changed on purpose.
    const [after, original] = [await snapshot(target), await snapshot(source)]
    delete after.files[halfId]
    delete original.files[halfId]
    expect(after).toEqual(original)
    expect(summary.added).toMatchObject({ conversations: 2, contacts: 3, files: 3 })
    expect(summary.added['messages']).toBe(1207)
    expect(summary.keyConflicts).toEqual([])
    expect(summary.verifiedRestored).toBe(1)
    const photo = Object.values((await snapshot(target)).files).find(
      (f) => (f as { meta: { name: string } }).meta.name === 'photo.png',
    )
    expect((photo as { hash: string }).hash).toBe(photoHash)
    // The unfinished transfer comes back as failed, without its partial bytes.
    const half = (await target.db.getAll('files')).find((f) => target.files.meta(f).name === 'half.bin')
    expect(half).toMatchObject({ state: 'failed', storedChunks: 0, error: { code: 'unavailable' } })
  })

  it('seals everything again under the new device’s vault key, so search works there', async () => {
    const target = await freshDevice('alice')
    await restore(target, backup)
    const stored = await target.db.getAll('messages')
    expect(stored.some((r) => Buffer.from(r.body).toString('latin1').includes('meeting'))).toBe(false)
    expect((await target.history.search('meeting')).map((h) => h.message.content.text)).toEqual([
      'the meeting is at noon 北京',
    ])
    expect((await target.history.search('北京')).length).toBe(1)
    expect((await target.history.search('lunch', { limit: 2000 })).length).toBe(1200)
    // Under any other key the bodies do not open.
    await expect(
      new History(target.db, generateVaultKey()).page(directConversationId('bob')),
    ).rejects.toThrow()
  })

  it('leaves out messages whose disappearing timer ran out', async () => {
    const target = await freshDevice('alice')
    await restore(target, backup)
    const texts = (await allMessages(target, directConversationId('bob'))).map((m) => m.content.text)
    expect(texts).toContain('this one disappears later')
    expect(texts).not.toContain('this one is gone already')
  })

  it('adds nothing when the same backup is restored twice', async () => {
    const target = await freshDevice('alice')
    await restore(target, backup)
    const before = await snapshot(target)
    const again = await restore(target, backup)
    expect(await snapshot(target)).toEqual(before)
    expect(again.added).toEqual({})
    expect(again.alreadyPresent['messages']).toBe(1207)
    expect((await target.history.conversations()).find((c) => c.peer === 'carol')?.unread).toBe(800)
  })

  it('merges into a device that has history of its own, keeping its pinned keys', async () => {
    const target = await freshDevice('alice')
    await put(target.db, {
      username: 'bob',
      identityKey: key('X'),
      pendingKey: null,
      verified: false,
      addedAt: 9,
    })
    await put(target.db, {
      username: 'carol',
      identityKey: key('C'),
      pendingKey: null,
      verified: false,
      addedAt: 9,
    })
    await addMessage(target, 'carol', 'carol', { text: 'only on this device' }, { sentAt: now + 1000 })
    const summary = await restore(target, backup)
    expect(summary.keyConflicts).toEqual([{ username: 'bob', keptKey: key('X'), backupKey: key('B') }])
    expect(await target.db.get('contacts', 'bob')).toMatchObject({ identityKey: key('X'), verified: false })
    expect(await target.db.get('contacts', 'dave')).toMatchObject({
      identityKey: key('D'),
      pendingKey: key('E'),
    })
    const carol = (await target.history.conversations()).find((c) => c.peer === 'carol')
    expect(carol).toMatchObject({ preview: 'only on this device', unread: 800 })
    expect(await target.history.count(directConversationId('carol'))).toBe(1201)
  })

  it('restores a queued message as failed: it was never sent from the new device', async () => {
    const d = await freshDevice('alice')
    await addMessage(d, 'bob', 'alice', { text: 'not sent yet' }, { state: 'queued' })
    const target = await freshDevice('alice')
    await restore(target, (await createBackup(d, passphrase, { now, ...cheap })).blob)
    expect((await allMessages(target, directConversationId('bob')))[0]?.state).toBe('failed')
  })
})

describe('a backup that cannot be restored changes nothing', () => {
  async function refused(
    blob: Blob,
    code: DataErrorCode,
    pass = passphrase,
    username = 'alice',
  ): Promise<void> {
    const target = await freshDevice(username)
    await addMessage(target, 'carol', 'carol', { text: 'already here' })
    const before = await snapshot(target)
    const error = await restore(target, blob, pass).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(DataError.is(error, code), `expected DataError ${code}, got ${String(error)}`).toBe(true)
    expect(await snapshot(target)).toEqual(before)
    expect(await target.db.count('messages')).toBe(1)
    expect(await target.db.count('fileChunks')).toBe(0)
  }

  async function altered(at: number): Promise<Blob> {
    const bytes = new Uint8Array(await backup.arrayBuffer())
    bytes[at] = (bytes[at] ?? 0) ^ 0x01
    return new Blob([bytes])
  }

  it('refuses a wrong passphrase', () => refused(backup, 'wrong-passphrase', 'not the passphrase'))

  it('refuses a backup cut short, anywhere', async () => {
    await refused(backup.slice(0, backup.size - 1), 'damaged')
    await refused(backup.slice(0, Math.floor(backup.size / 2)), 'damaged')
    await refused(backup.slice(0, 70), 'damaged')
    await refused(backup.slice(0, 20), 'damaged')
  })

  it('refuses a backup with a byte altered in the body or at the end', async () => {
    await refused(await altered(Math.floor(backup.size / 2)), 'damaged')
    await refused(await altered(backup.size - 1), 'damaged')
  })

  it('cannot tell an altered header from a wrong passphrase, and says so', async () => {
    await refused(await altered(30), 'wrong-passphrase')
  })

  it('refuses bytes after the end', async () => {
    await refused(new Blob([backup, new Uint8Array([0, 0, 0, 0, 1])]), 'damaged')
  })

  it('refuses a file that is not a backup', async () => {
    await refused(new Blob([randomBytes(5000) as Uint8Array<ArrayBuffer>]), 'not-a-backup')
    await refused(new Blob([]), 'not-a-backup')
  })

  it("refuses another account's backup", () => refused(backup, 'wrong-account', passphrase, 'mallory'))

  it('takes back what it wrote when storage fails near the end', async () => {
    const target = await freshDevice('alice')
    await addMessage(target, 'carol', 'carol', { text: 'already here' })
    const before = await snapshot(target)
    const failing = new Proxy(target.db, {
      get(db, prop, receiver) {
        if (prop === 'transaction')
          return (stores: string | string[], mode?: IDBTransactionMode) => {
            if (Array.isArray(stores) && stores.includes('contacts') && mode === 'readwrite')
              throw new DOMException('the disk is full', 'QuotaExceededError')
            return db.transaction(stores as never, mode)
          }
        const value: unknown = Reflect.get(db, prop, receiver)
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(db) : value
      },
    })
    const error = await restore({ ...target, db: failing }, backup).catch((e: unknown) => e)
    expect(DataError.is(error, 'storage-full')).toBe(true)
    expect(await snapshot(target)).toEqual(before)
    expect(await target.db.count('messages')).toBe(1)
    expect(await target.db.count('fileChunks')).toBe(0)
  })

  it('takes back every batch it wrote when storage fills up while messages are still coming in', async () => {
    // Enough messages for several write batches, the later ones written while the next is read.
    const big = await freshDevice('alice')
    const count = 2100
    const messages = Array.from({ length: count }, (_, i) => ({
      id: `bulk-${i}`,
      conversationId: directConversationId('bob'),
      author: i % 2 === 0 ? 'bob' : 'alice',
      sentAt: 1_700_000_000_000 + i * 1000,
      receivedAt: 1_700_000_000_000 + i * 1000,
      type: 'text',
      state: i % 2 === 0 ? ('received' as const) : ('read' as const),
      content: { text: `note ${i}` },
    }))
    expect(await big.history.addMany(messages, { peer: 'bob' })).toBe(count)
    const bigBackup = await createBackup(big, passphrase, { now, ...cheap })
    const target = await freshDevice('alice')
    await addMessage(target, 'carol', 'carol', { text: 'already here' })
    const before = await snapshot(target)
    let messageWrites = 0
    const failing = new Proxy(target.db, {
      get(db, prop, receiver) {
        if (prop === 'transaction')
          return (stores: string | string[], mode?: IDBTransactionMode) => {
            if (stores === 'messages' && mode === 'readwrite' && ++messageWrites === 3)
              throw new DOMException('the disk is full', 'QuotaExceededError')
            return db.transaction(stores as never, mode)
          }
        const value: unknown = Reflect.get(db, prop, receiver)
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(db) : value
      },
    })
    const error = await restore({ ...target, db: failing }, bigBackup.blob).catch((e: unknown) => e)
    expect(DataError.is(error, 'storage-full')).toBe(true)
    expect(await snapshot(target)).toEqual(before)
    expect(await target.db.count('messages')).toBe(1)
    // Nothing was left behind: the same backup then restores whole.
    const summary = await restore(target, bigBackup.blob)
    expect(summary.added['messages']).toBe(count)
    expect((await target.history.search('note 2099')).map((h) => h.message.id)).toEqual(['bulk-2099'])
  })

  it('refuses a passphrase under 8 characters when backing up', async () => {
    await expect(createBackup(source, 'short', { now, ...cheap })).rejects.toSatisfy((e) =>
      DataError.is(e, 'weak-passphrase'),
    )
  })
})

describe('stores added after this code was written', () => {
  /** The account's database with two more stores, as a later schema version might add. */
  async function extendedDevice(username: string): Promise<Device> {
    const plain = await freshDevice(username)
    const name = plain.db.name
    plain.db.close()
    const db = (await openDB(name, dbVersion + 1, {
      upgrade(d) {
        d.createObjectStore('drafts', { keyPath: 'conversationId' })
        d.createObjectStore('stickers')
      },
    })) as unknown as Db
    return {
      ...plain,
      db,
      history: new History(db, plain.vaultKey),
      files: new FileStore(db, plain.vaultKey),
    }
  }

  it('carries their records as they are, and skips what is not plain data', async () => {
    const from = await extendedDevice('alice')
    const raw = from.db as unknown as IDBPDatabase
    await raw.put('drafts', {
      conversationId: 'direct:bob',
      text: 'half-written',
      attachments: [new Uint8Array([1, 2, 3])],
    })
    await raw.put('stickers', { emoji: '🐱', png: new Uint8Array([9, 9]) }, ['pack', 7])
    await raw.put('stickers', { when: new Date(5) }, ['pack', 8])
    const made = await createBackup(from, passphrase, { now, ...cheap })
    expect(made.counts).toMatchObject({ drafts: 1, stickers: 1 })
    expect(made.skipped).toEqual({ stickers: 1 })

    const to = await extendedDevice('alice')
    const summary = await restore(to, made.blob)
    expect(summary.added).toMatchObject({ drafts: 1, stickers: 1 })
    const toRaw = to.db as unknown as IDBPDatabase
    expect(await toRaw.get('drafts', 'direct:bob')).toEqual({
      conversationId: 'direct:bob',
      text: 'half-written',
      attachments: [new Uint8Array([1, 2, 3])],
    })
    expect(await toRaw.get('stickers', ['pack', 7])).toEqual({ emoji: '🐱', png: new Uint8Array([9, 9]) })
    expect((await restore(to, made.blob)).added).toEqual({})

    // A device without those stores restores the rest and says what it could not keep.
    const older = await freshDevice('alice')
    const partial = await restore(older, made.blob)
    expect(partial.unknownStores).toEqual({ drafts: 1, stickers: 1 })
  })
})

describe('groups in a backup', () => {
  function groups(): PortableGroupValue[] {
    const me = { id: 'alice', identityKey: generateIdentity().identityKey }
    const member = (id: string) => ({ id, identityKey: toBase64Url(randomBytes(32)), admin: false })
    const v0 = createMemberList('g1', me, [member('bob'), member('carol')], 'Hikers')
    const v1 = nextMemberList(
      v0,
      me,
      v0.members.filter((m) => m.id !== 'carol'),
    )
    const club = createMemberList('g2', me, [member('bob')], 'Hikers')
    return [
      { id: 'g1', name: 'Climbers', state: 'active', lastEpoch: 42, chain: [v0, v1] },
      { id: 'g2', name: 'Old club', state: 'left', lastEpoch: 7, leavePending: true, chain: [club] },
    ]
  }

  /** A group layer that records what a restore hands it. */
  function groupLayer(counts: GroupRestoreCounts = { added: 2, alreadyPresent: 0, refused: 0 }) {
    const got: PortableGroupValue[][] = []
    return {
      got,
      restoreGroups: (list: readonly PortableGroupValue[]) => {
        got.push([...list])
        return Promise.resolve(counts)
      },
    }
  }

  async function backupWith(list: readonly PortableGroupValue[]): Promise<Blob> {
    const d = await freshDevice('alice')
    await addMessage(d, 'bob', 'bob', { text: 'hi' })
    const made = await createBackup(
      { ...d, groups: { backupGroups: () => Promise.resolve(list) } },
      passphrase,
      { ...cheap, now },
    )
    expect(made.counts['groups']).toBe(list.length)
    return made.blob
  }

  it('carries each group’s signed chain, name and state, and no key, to the group layer', async () => {
    const list = groups()
    const blob = await backupWith(list)
    const target = await freshDevice('alice')
    const layer = groupLayer()
    const summary = await restore({ ...target, groups: layer } as Device, blob)
    expect(layer.got).toEqual([list])
    for (const g of layer.got[0] ?? [])
      expect(Object.keys(g).sort()).toEqual(
        [
          'chain',
          'id',
          'lastEpoch',
          'name',
          'state',
          ...('leavePending' in g ? ['leavePending'] : []),
        ].sort(),
      )
    expect(summary.added).toMatchObject({ groups: 2, messages: 1 })
    expect(summary.groupsRefused).toBe(0)
  })

  it('reports what the group layer already had and refused', async () => {
    const blob = await backupWith(groups())
    const layer = groupLayer({ added: 0, alreadyPresent: 1, refused: 1 })
    const summary = await restore({ ...(await freshDevice('alice')), groups: layer } as Device, blob)
    expect(summary.added['groups']).toBeUndefined()
    expect(summary.alreadyPresent['groups']).toBe(1)
    expect(summary.groupsRefused).toBe(1)
  })

  it('counts groups as an unknown store where there is no group layer', async () => {
    const summary = await restore(await freshDevice('alice'), await backupWith(groups()))
    expect(summary.unknownStores).toEqual({ groups: 2 })
  })

  it('refuses a backup whose member list does not verify, writing nothing and restoring no group', async () => {
    const list = groups()
    const g1 = list[0] as PortableGroupValue
    const [v0, v1] = g1.chain as SignedMemberList[]
    // Carol put back into version 1 with its signature kept: the chain no longer verifies.
    const forged = { ...(v1 as SignedMemberList), members: (v0 as SignedMemberList).members }
    const blob = await backupWith([{ ...g1, chain: [v0, forged] }, ...list.slice(1)])
    const target = await freshDevice('alice')
    const layer = groupLayer()
    const error = await restore({ ...target, groups: layer } as Device, blob).catch((e: unknown) => e)
    expect(DataError.is(error, 'damaged'), String(error)).toBe(true)
    expect(layer.got).toEqual([])
    expect(await target.db.count('messages')).toBe(0)
    // A chain of another group under this id is refused the same way.
    const other = await backupWith([{ ...g1, id: 'g9' }])
    const again = await restore({ ...target, groups: layer } as Device, other).catch((e: unknown) => e)
    expect(DataError.is(again, 'damaged')).toBe(true)
    expect(layer.got).toEqual([])
  })
})
