import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { crc32 } from '../../../../client/core/export/crc32.ts'
import { ZipWriter } from '../../../../client/core/export/zip-writer.ts'
import { readZip } from './zip.ts'

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

function bytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7) & 0xff
  return out
}

async function* pieces(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield await Promise.resolve(data.subarray(i, i + size))
}

describe('CRC-32', () => {
  it('matches the standard check value and continues across pieces', () => {
    const text = new TextEncoder().encode('123456789')
    expect(crc32(text)).toBe(0xcbf43926)
    expect(crc32(text.subarray(5), crc32(text.subarray(0, 5)))).toBe(0xcbf43926)
    expect(crc32(new Uint8Array(0))).toBe(0)
  })
})

describe('ZIP writer', () => {
  it('writes an archive that an independent reader (and unzip, if installed) reads back byte for byte, with UTF-8 names', async () => {
    const a = bytes(300_000, 1)
    const b = new TextEncoder().encode('hello 👋')
    const zip = new ZipWriter()
    await zip.add('attachments/one/photo 北京.jpg', pieces(a, 65_536), Date.UTC(2024, 4, 1, 12, 30))
    await zip.add('notes/hello.txt', b)
    await zip.add('empty.bin', new Uint8Array(0))
    await zip.add('from-blob.bin', new Blob([a.subarray(0, 1000)]))
    const listing = await readZip(zip.finish())
    expect(listing.bad).toBeNull()
    expect(listing.unzipOk).not.toBe(false)
    expect(listing.zip64).toBe(false)
    expect(listing.entries).toEqual([
      { name: 'attachments/one/photo 北京.jpg', size: a.length, sha256: sha256(a), compressType: 0 },
      { name: 'notes/hello.txt', size: b.length, sha256: sha256(b), compressType: 0 },
      { name: 'empty.bin', size: 0, sha256: sha256(new Uint8Array(0)), compressType: 0 },
      { name: 'from-blob.bin', size: 1000, sha256: sha256(a.subarray(0, 1000)), compressType: 0 },
    ])
  })

  it('writes ZIP64 records that readers accept (the path taken above 4 GiB)', async () => {
    const a = bytes(70_000, 2)
    const zip = new ZipWriter({ forceZip64: true })
    await zip.add('big/one.bin', a)
    await zip.add('big/two.bin', a.subarray(0, 10))
    const listing = await readZip(zip.finish())
    expect(listing.bad).toBeNull()
    expect(listing.unzipOk).not.toBe(false)
    expect(listing.zip64).toBe(true)
    expect(listing.entries.map((e) => [e.name, e.size, e.sha256])).toEqual([
      ['big/one.bin', a.length, sha256(a)],
      ['big/two.bin', 10, sha256(a.subarray(0, 10))],
    ])
  })

  it('is checked by a reader that notices a single damaged byte', async () => {
    const zip = new ZipWriter()
    await zip.add('one.bin', bytes(1000, 3))
    const archive = new Uint8Array(await zip.finish().arrayBuffer())
    const at = 30 + 'one.bin'.length + 500
    archive[at] = (archive[at] ?? 0) ^ 1
    expect((await readZip(new Blob([archive]))).bad).toBe('one.bin')
  })

  it('refuses paths that would extract outside the folder', async () => {
    const zip = new ZipWriter()
    for (const bad of ['../evil', '/etc/passwd', 'a/../../b', 'a\\b', '', 'a//b'])
      await expect(zip.add(bad, new Uint8Array(1))).rejects.toThrow(RangeError)
  })
})
