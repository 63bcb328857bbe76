import { beforeAll, describe, expect, it } from 'vitest'
import {
  encryptedFileSize,
  fileChunkCount,
  fileChunksPerSegment,
  type FileCryptoParams,
  FileDecryptor,
  FileEncryptor,
  FileHasher,
  initCrypto,
  newFileId,
  newFileKey,
  randomBytes,
} from '../../../crypto/index.ts'
import { expectCode, flipBit, hex, toHex, utf8 } from './helpers.ts'

const chunkSize = 64

beforeAll(async () => {
  await initCrypto()
})

function params(fileSize: number, overrides: Partial<FileCryptoParams> = {}): FileCryptoParams {
  return { key: newFileKey(), fileId: newFileId(), fileSize, chunkSize, ...overrides }
}

function chunksOf(file: Uint8Array, from = 0): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = from; i < fileChunkCount(file.length, chunkSize); i++) {
    out.push(file.subarray(i * chunkSize, Math.min(file.length, (i + 1) * chunkSize)))
  }
  return out
}

function encrypt(p: FileCryptoParams, file: Uint8Array, startSegment = 0): Uint8Array[] {
  const enc = new FileEncryptor(p, startSegment)
  const out = chunksOf(file, startSegment * fileChunksPerSegment).map((c) => enc.encryptChunk(c).data)
  expect(enc.done).toBe(true)
  return out
}

function decrypt(p: FileCryptoParams, wire: readonly Uint8Array[], startSegment = 0): Uint8Array {
  const dec = new FileDecryptor(p, startSegment)
  const parts = wire.map((c) => dec.decryptChunk(c))
  dec.finish()
  const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0))
  let o = 0
  for (const x of parts) {
    out.set(x, o)
    o += x.length
  }
  return out
}

const severalSegments = chunkSize * fileChunksPerSegment * 2 + chunkSize * 3 + 7

describe('file encryption', () => {
  for (const size of [0, 1, chunkSize - 1, chunkSize, chunkSize + 1, severalSegments]) {
    it(`round-trips a file of ${size} bytes`, () => {
      const p = params(size)
      const file = randomBytes(size)
      const wire = encrypt(p, file)
      expect(wire).toHaveLength(fileChunkCount(size, chunkSize))
      expect(wire.reduce((n, c) => n + c.length, 0)).toBe(encryptedFileSize(size, chunkSize))
      expect(decrypt(p, wire)).toEqual(file)
    })
  }

  it('refuses a transfer that stops early, even at a segment boundary', () => {
    const p = params(severalSegments)
    const wire = encrypt(p, randomBytes(severalSegments))
    expectCode(() => decrypt(p, wire.slice(0, -1)), 'truncated')
    expectCode(() => decrypt(p, wire.slice(0, 2 * fileChunksPerSegment)), 'truncated')
    expectCode(() => decrypt(p, []), 'truncated')
  })

  it('refuses reordered chunks, within a segment and across segments', () => {
    const p = params(severalSegments)
    const wire = encrypt(p, randomBytes(severalSegments))
    const swapped = [...wire]
    ;[swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!]
    expectCode(() => decrypt(p, swapped), 'decrypt-failed')
    // Whole segments swapped: headers travel with them, but the keys and AD name the segment.
    const segs = [
      wire.slice(fileChunksPerSegment, 2 * fileChunksPerSegment),
      wire.slice(0, fileChunksPerSegment),
      wire.slice(2 * fileChunksPerSegment),
    ].flat()
    expectCode(() => decrypt(p, segs), 'decrypt-failed')
  })

  it('refuses an altered chunk but still accepts the genuine one afterwards', () => {
    const p = params(chunkSize * 5)
    const file = randomBytes(chunkSize * 5)
    const wire = encrypt(p, file)
    const dec = new FileDecryptor(p)
    expect(dec.decryptChunk(wire[0]!)).toEqual(file.subarray(0, chunkSize))
    expectCode(() => dec.decryptChunk(flipBit(wire[1]!, 10)), 'decrypt-failed')
    expect(dec.decryptChunk(wire[1]!)).toEqual(file.subarray(chunkSize, 2 * chunkSize))
  })

  it('refuses chunks of another file, size or chunk size under the same key', () => {
    const p = params(chunkSize * 2)
    const wire = encrypt(p, randomBytes(chunkSize * 2))
    expectCode(() => decrypt({ ...p, fileId: newFileId() }, wire), 'decrypt-failed')
    expectCode(() => decrypt({ ...p, fileSize: chunkSize * 2 - 1 }, wire), 'decrypt-failed')
    expectCode(() => decrypt({ ...p, key: newFileKey() }, wire), 'decrypt-failed')
  })

  it('resumes at a segment boundary on either side and yields the same file', () => {
    const p = params(severalSegments)
    const file = randomBytes(severalSegments)
    const full = encrypt(p, file)
    const fromSegment1 = encrypt(p, file, 1)
    const received = decrypt(p, fromSegment1, 1)
    expect(received).toEqual(file.subarray(chunkSize * fileChunksPerSegment))
    // A receiver that got segment 0 before the drop combines both parts.
    const first = decrypt(p, full.slice(0, fileChunksPerSegment).concat(fromSegment1))
    expect(first).toEqual(file)
    expectCode(() => new FileDecryptor(p, 3), 'bad-format')
  })

  it('refuses chunks of the wrong size on the sending side', () => {
    const enc = new FileEncryptor(params(chunkSize * 2))
    expectCode(() => enc.encryptChunk(new Uint8Array(chunkSize - 1)), 'bad-format')
    enc.encryptChunk(new Uint8Array(chunkSize))
    enc.encryptChunk(new Uint8Array(chunkSize))
    expectCode(() => enc.encryptChunk(new Uint8Array(1)), 'bad-state')
  })

  it('hashes with BLAKE2b-256, streaming, and refuses a mismatching hash', () => {
    const h = new FileHasher()
    h.update(utf8('ab'))
    h.update(utf8('c'))
    // BLAKE2b-256("abc") from RFC 7693-style reference implementations.
    expect(toHex(h.digest())).toBe('bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319')
    const other = new FileHasher()
    other.update(utf8('abd'))
    expectCode(
      () => other.verify(hex('bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319')),
      'hash-mismatch',
    )
  })
})
