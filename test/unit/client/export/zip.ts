import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { fromBufferPromise } from 'yauzl'

const hasUnzip = spawnSync('unzip', ['-v'], { stdio: 'ignore' }).status === 0

export interface ZipListing {
  /** The first entry whose data does not match its CRC-32 (null: none). */
  readonly bad: string | null
  readonly entries: { name: string; size: number; sha256: string; compressType: number }[]
  /** Whether the archive ends with ZIP64 records (locator before the classic end record). */
  readonly zip64: boolean
  /** What Info-ZIP's `unzip -t` said, where it is installed (null: not installed). */
  readonly unzipOk: boolean | null
}

/**
 * Reads a ZIP back with yauzl (a reader independent of our writer: it checks names, sizes and
 * ZIP64 records) and checks every entry's CRC-32 with Node's zlib; `unzip -t` too if present.
 */
export async function readZip(blob: Blob): Promise<ZipListing> {
  const bytes = Buffer.from(await blob.arrayBuffer())
  const zip = await fromBufferPromise(bytes, { validateEntrySizes: true, strictFileNames: true })
  const entries: ZipListing['entries'] = []
  let bad: string | null = null
  for await (const entry of zip.eachEntry()) {
    const data = await readAll(await zip.openReadStreamPromise(entry))
    if (crc32(data) !== entry.crc32) bad ??= entry.fileName
    entries.push({
      name: entry.fileName,
      size: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
      compressType: entry.compressionMethod,
    })
  }
  const locatorAt = bytes.length - 22 - 20
  const zip64 = locatorAt >= 0 && bytes.readUInt32LE(locatorAt) === 0x07064b50
  return { bad, entries, zip64, unzipOk: hasUnzip ? unzipTest(bytes) : null }
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const part of stream) parts.push(part)
  return Buffer.concat(parts)
}

function unzipTest(bytes: Uint8Array): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'tincan-zip-'))
  try {
    const path = join(dir, 'test.zip')
    writeFileSync(path, bytes)
    return spawnSync('unzip', ['-tq', path], { stdio: 'ignore' }).status === 0
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
