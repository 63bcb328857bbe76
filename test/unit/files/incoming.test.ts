import 'fake-indexeddb/auto'
import { beforeAll, describe, expect, it } from 'vitest'
import { chunkFrames, readChunkFrame, type ChunkPiece } from '../../../client/core/files/chunk-frame.ts'
import { FileStore } from '../../../client/core/files/file-store.ts'
import { IncomingStream, type IncomingFailure } from '../../../client/core/files/incoming.ts'
import { readStoredFile } from '../../../client/core/files/read.ts'
import { openHistoryDb } from '../../../client/core/store/databases.ts'
import type { FileRecord } from '../../../client/core/store/db.ts'
import {
  fileChunkCount,
  FileEncryptor,
  equalBytes,
  FileHasher,
  generateVaultKey,
  initCrypto,
  newFileId,
  newFileKey,
  randomBytes,
  toBase64Url,
} from '../../../crypto/index.ts'

beforeAll(async () => {
  await initCrypto()
})

let n = 0
const chunkSize = 1024
/** 600 chunks of 1 KiB: three secretstream segments, the last one short. */
const size = 600 * chunkSize - 100

interface Setup {
  store: FileStore
  record: FileRecord
  plain: Uint8Array
  /** The file as pieces on the wire, in order. */
  pieces: ChunkPiece[]
  outcome: { stored: number; complete: boolean; failed: IncomingFailure | null }
  open(stored: number): Promise<IncomingStream>
}

async function setup(opts: { hash?: Uint8Array; maxMessageBytes?: number } = {}): Promise<Setup> {
  const store = new FileStore(await openHistoryDb(`incoming-${n++}`), generateVaultKey())
  const plain = randomBytes(size)
  const key = newFileKey()
  const idBytes = newFileId()
  const fileId = toBase64Url(idBytes)
  const params = { key, fileId: idBytes, fileSize: size, chunkSize }
  const encryptor = new FileEncryptor(params)
  const hasher = new FileHasher()
  hasher.update(plain)
  const hash = opts.hash ?? hasher.digest()
  const pieces: ChunkPiece[] = []
  for (let i = 0; i < fileChunkCount(size, chunkSize); i++) {
    const chunk = encryptor.encryptChunk(plain.subarray(i * chunkSize, Math.min(size, (i + 1) * chunkSize)))
    for (const f of chunkFrames(idBytes, i, chunk.data, opts.maxMessageBytes ?? 64 * 1024)) {
      const p = readChunkFrame(f.subarray(1))
      if (p !== null) pieces.push(p)
    }
  }
  const record: FileRecord = {
    fileId,
    peer: 'alice',
    direction: 'in',
    kind: 'file',
    size,
    chunkSize,
    createdAt: 1,
    state: 'transferring',
    storedChunks: 0,
    doneChunks: 0,
    error: null,
    sealed: new Uint8Array(0),
  }
  const meta = { name: 'f', mime: '', hash: toBase64Url(hash), key: toBase64Url(key) }
  record.sealed = store.seal(fileId, meta)
  await store.create(record)
  const outcome: Setup['outcome'] = { stored: 0, complete: false, failed: null }
  const options = {
    store,
    fileId,
    params,
    chunkCount: fileChunkCount(size, chunkSize),
    expectedHash: hash,
    onStored: (s: number) => (outcome.stored = s),
    onComplete: () => (outcome.complete = true),
    onFailed: (code: IncomingFailure) => (outcome.failed = code),
  }
  return {
    store,
    record,
    plain,
    pieces,
    outcome,
    async open(stored) {
      const s = await IncomingStream.open(options, stored, 64)
      s.start()
      return s
    },
  }
}

/** Waits until the stream's writes are done (or it has failed). */
async function settle(stream: IncomingStream, s: Setup, stored = 600): Promise<void> {
  const t0 = Date.now()
  while (
    s.outcome.failed === null &&
    !s.outcome.complete &&
    s.outcome.stored < stored &&
    Date.now() - t0 < 10_000
  )
    await new Promise((r) => setTimeout(r, 2))
  await stream.settled()
}

async function readAll(s: Setup): Promise<Uint8Array> {
  const record = (await s.store.get(s.record.fileId)) ?? s.record
  const out = new Uint8Array(size)
  let at = 0
  for await (const c of readStoredFile(s.store, record, s.store.meta(record), 50)) {
    out.set(c, at)
    at += c.length
  }
  return out
}

describe('receiving a file', () => {
  it('decrypts, verifies and stores every chunk, across segment boundaries and split pieces', async () => {
    const s = await setup({ maxMessageBytes: 400 })
    const stream = await s.open(0)
    for (const p of s.pieces) expect(stream.push(p)).toBe('ok')
    await settle(stream, s)
    expect(s.outcome).toEqual({ stored: 600, complete: true, failed: null })
    expect((await s.store.get(s.record.fileId))?.storedChunks).toBe(600)
    expect(equalBytes(await readAll(s), s.plain)).toBe(true)
  })

  it('picks up after a reload from the chunks already stored, re-reading them for the hash', async () => {
    const s = await setup()
    const first = await s.open(0)
    for (const p of s.pieces.slice(0, 300)) first.push(p)
    await settle(first, s, 300)
    first.stop()
    expect((await s.store.get(s.record.fileId))?.storedChunks).toBe(300)
    const second = await s.open(300)
    expect(second.resumeFrom).toBe(300)
    // Chunks it already has are ignored; the rest complete the file.
    for (const p of s.pieces.slice(250)) second.push(p)
    await settle(second, s)
    expect(s.outcome.complete).toBe(true)
    expect(equalBytes(await readAll(s), s.plain)).toBe(true)
  })

  it('asks again from the right place when a chunk is missing', async () => {
    const s = await setup()
    const stream = await s.open(0)
    expect(stream.push(s.pieces[0] as ChunkPiece)).toBe('ok')
    expect(stream.push(s.pieces[2] as ChunkPiece)).toBe('gap')
    expect(stream.resumeFrom).toBe(1)
    stream.stop()
  })

  it('rejects an altered chunk, stores nothing of it, and fails the file', async () => {
    const s = await setup()
    const stream = await s.open(0)
    for (const p of s.pieces.slice(0, 10)) stream.push(p)
    const bad = s.pieces[10] as ChunkPiece
    const altered = bad.piece.slice()
    altered[5] = (altered[5] ?? 0) ^ 0x80
    stream.push({ ...bad, piece: altered })
    await settle(stream, s)
    expect(s.outcome.failed).toBe('bad-data')
    expect(s.outcome.stored).toBeLessThanOrEqual(10)
    expect(s.outcome.complete).toBe(false)
  })

  it('fails a file whose chunks are genuine but whose whole does not hash as offered', async () => {
    const s = await setup({ hash: new Uint8Array(32).fill(9) })
    const stream = await s.open(0)
    for (const p of s.pieces) stream.push(p)
    await settle(stream, s)
    expect(s.outcome.failed).toBe('hash-mismatch')
    expect(s.outcome.complete).toBe(false)
  })

  it('starts over when stored chunks no longer decrypt', async () => {
    const s = await setup()
    const first = await s.open(0)
    for (const p of s.pieces.slice(0, 100)) first.push(p)
    await settle(first, s, 100)
    first.stop()
    // Corrupt stored chunk 40 behind the stream's back.
    const stored = (await s.store.readChunks(s.record.fileId, 40, 1))[0] ?? new Uint8Array()
    stored[3] = (stored[3] ?? 0) ^ 1
    await s.store.putChunks(s.record.fileId, 40, [stored], new Set(['transferring']))
    const second = await s.open(100)
    expect(second.resumeFrom).toBe(0)
    expect(await s.store.countChunks(s.record.fileId)).toBe(0)
    second.stop()
  })
})
