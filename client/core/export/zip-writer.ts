import { utf8Encode } from '../../../crypto/index.ts'
import { crc32 } from './crc32.ts'

// A ZIP archive written as a Blob of parts, entries stored uncompressed (method 0): photos and
// videos do not compress, and storing keeps the writer small and fast. Names are UTF-8 (flag
// bit 11). ZIP64 (APPNOTE 4.5) is used where a size, an offset or the entry count does not fit
// the classic fields, so entries over 4 GiB and archives over 4 GiB work.
//
// Each entry's data is read once: its CRC-32 is computed as the data goes by, and its local
// header (which must come first and holds the CRC) is put into the slot reserved before the
// data, so no data descriptors are needed. Data is kept as Blobs of a few MiB, which browsers
// hold outside the JavaScript heap.
//
// Little-endian layouts (offsets in bytes):
//   local header   (30): sig 0x04034b50 | version needed u16 | flags u16 | method u16 | time u16 |
//                        date u16 | crc u32 | compressed u32 | size u32 | name len u16 | extra len u16
//   central header (46): sig 0x02014b50 | made by u16 | version needed u16 | flags u16 | method u16 |
//                        time u16 | date u16 | crc u32 | compressed u32 | size u32 | name len u16 |
//                        extra len u16 | comment len u16 | disk u16 | internal attr u16 |
//                        external attr u32 | local header offset u32
//   ZIP64 extra          id 0x0001 u16 | len u16 | [size u64] [compressed u64] [offset u64]
//   ZIP64 end     (56): sig 0x06064b50 | record size u64 (44) | made by u16 | needed u16 | disk u32 |
//                        cd disk u32 | entries here u64 | entries u64 | cd size u64 | cd offset u64
//   ZIP64 locator (20): sig 0x07064b50 | disk u32 | ZIP64 end offset u64 | disks u32
//   end           (22): sig 0x06054b50 | disk u16 | cd disk u16 | entries here u16 | entries u16 |
//                        cd size u32 | cd offset u32 | comment len u16

const u32Max = 0xffffffff
const u16Max = 0xffff
const utf8Flag = 0x0800
const version20 = 20
const version45 = 45
const blobBatchBytes = 4 * 1024 * 1024

interface Entry {
  readonly name: Uint8Array
  readonly crc: number
  readonly size: number
  readonly offset: number
  readonly time: number
  readonly date: number
}

export type ZipData = Uint8Array | Blob | AsyncIterable<Uint8Array>

export interface ZipWriterOptions {
  /** Writes ZIP64 records even where the classic fields would do (tests of the ZIP64 path). */
  readonly forceZip64?: boolean
}

/** Rejects names that would extract outside the target folder or that readers mangle. */
export function checkZipPath(path: string): void {
  if (
    path === '' ||
    path.startsWith('/') ||
    path.includes('\\') ||
    path.includes('\u0000') ||
    path.split('/').some((s) => s === '' || s === '.' || s === '..')
  )
    throw new RangeError(`not a safe path inside a ZIP: ${JSON.stringify(path)}`)
}

export class ZipWriter {
  private readonly parts: BlobPart[] = []
  private readonly entries: Entry[] = []
  private offset = 0
  private finished = false

  constructor(private readonly options: ZipWriterOptions = {}) {}

  /** Adds one file. Entries are written in the order added; a path must be unique. */
  async add(path: string, data: ZipData, modifiedAtMs = Date.now()): Promise<void> {
    if (this.finished) throw new Error('the ZIP is finished')
    checkZipPath(path)
    const name = utf8Encode(path)
    if (name.length > u16Max) throw new RangeError('ZIP entry name too long')
    const slot = this.parts.length
    this.parts.push(new Uint8Array(0))
    let crc = 0
    let size = 0
    let batch: Uint8Array<ArrayBuffer>[] = []
    let batchBytes = 0
    const flush = (): void => {
      if (batch.length > 0) this.parts.push(new Blob(batch))
      batch = []
      batchBytes = 0
    }
    for await (const chunk of chunksOf(data)) {
      crc = crc32(chunk, crc)
      size += chunk.length
      batch.push(chunk as Uint8Array<ArrayBuffer>)
      batchBytes += chunk.length
      if (batchBytes >= blobBatchBytes) flush()
    }
    flush()
    const { time, date } = dosDateTime(modifiedAtMs)
    const entry: Entry = { name, crc, size, offset: this.offset, time, date }
    const header = this.localHeader(entry)
    this.parts[slot] = header
    this.offset += header.length + size
    this.entries.push(entry)
  }

  /** The archive; nothing can be added afterwards. */
  finish(): Blob {
    if (this.finished) throw new Error('the ZIP is finished')
    this.finished = true
    const cdStart = this.offset
    let cdSize = 0
    for (const e of this.entries) {
      const h = this.centralHeader(e)
      this.parts.push(h)
      cdSize += h.length
    }
    const count = this.entries.length
    const zip64 = this.options.forceZip64 === true || count >= u16Max || cdStart >= u32Max || cdSize >= u32Max
    if (zip64) {
      const end64At = cdStart + cdSize
      const end64 = new Bytes(56)
        .u32(0x06064b50)
        .u64(44)
        .u16(version45)
        .u16(version45)
        .u32(0)
        .u32(0)
        .u64(count)
        .u64(count)
        .u64(cdSize)
        .u64(cdStart)
      const locator = new Bytes(20).u32(0x07064b50).u32(0).u64(end64At).u32(1)
      this.parts.push(end64.bytes, locator.bytes)
    }
    const end = new Bytes(22)
      .u32(0x06054b50)
      .u16(0)
      .u16(0)
      .u16(zip64 ? u16Max : count)
      .u16(zip64 ? u16Max : count)
      .u32(zip64 ? u32Max : cdSize)
      .u32(zip64 ? u32Max : cdStart)
      .u16(0)
    this.parts.push(end.bytes)
    return new Blob(this.parts, { type: 'application/zip' })
  }

  private bigSize(e: Entry): boolean {
    return this.options.forceZip64 === true || e.size >= u32Max
  }

  private localHeader(e: Entry): Uint8Array<ArrayBuffer> {
    const big = this.bigSize(e)
    const extra = big ? new Bytes(20).u16(1).u16(16).u64(e.size).u64(e.size).bytes : new Uint8Array(0)
    return new Bytes(30 + e.name.length + extra.length)
      .u32(0x04034b50)
      .u16(big ? version45 : version20)
      .u16(utf8Flag)
      .u16(0)
      .u16(e.time)
      .u16(e.date)
      .u32(e.crc)
      .u32(big ? u32Max : e.size)
      .u32(big ? u32Max : e.size)
      .u16(e.name.length)
      .u16(extra.length)
      .raw(e.name)
      .raw(extra).bytes
  }

  private centralHeader(e: Entry): Uint8Array<ArrayBuffer> {
    const big = this.bigSize(e)
    const farOffset = this.options.forceZip64 === true || e.offset >= u32Max
    const fields = (big ? 2 : 0) + (farOffset ? 1 : 0)
    const extra = new Bytes(fields === 0 ? 0 : 4 + 8 * fields)
    if (fields > 0) {
      extra.u16(1).u16(8 * fields)
      if (big) extra.u64(e.size).u64(e.size)
      if (farOffset) extra.u64(e.offset)
    }
    return new Bytes(46 + e.name.length + extra.bytes.length)
      .u32(0x02014b50)
      .u16(fields > 0 ? version45 : version20)
      .u16(fields > 0 ? version45 : version20)
      .u16(utf8Flag)
      .u16(0)
      .u16(e.time)
      .u16(e.date)
      .u32(e.crc)
      .u32(big ? u32Max : e.size)
      .u32(big ? u32Max : e.size)
      .u16(e.name.length)
      .u16(extra.bytes.length)
      .u16(0)
      .u16(0)
      .u16(0)
      .u32(0)
      .u32(farOffset ? u32Max : e.offset)
      .raw(e.name)
      .raw(extra.bytes).bytes
  }
}

async function* chunksOf(data: ZipData): AsyncGenerator<Uint8Array, void, undefined> {
  if (data instanceof Uint8Array) {
    yield data
    return
  }
  if (data instanceof Blob) {
    yield* blobChunks(data)
    return
  }
  yield* data
}

/** A Blob read in slices of a few MiB (works the same in browsers and Node). */
export async function* blobChunks(
  blob: Blob,
  sliceBytes = blobBatchBytes,
): AsyncGenerator<Uint8Array, void, undefined> {
  for (let at = 0; at < blob.size; at += sliceBytes)
    yield new Uint8Array(await blob.slice(at, Math.min(blob.size, at + sliceBytes)).arrayBuffer())
}

/** MS-DOS date and time in local time, as ZIP stores them (2-second steps, from 1980). */
function dosDateTime(ms: number): { time: number; date: number } {
  const d = new Date(ms)
  const year = Math.min(2107, Math.max(1980, d.getFullYear()))
  if (year !== d.getFullYear()) return { time: 0, date: ((year - 1980) << 9) | (1 << 5) | 1 }
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  }
}

/** Little-endian writer over a fixed-size buffer. */
class Bytes {
  readonly bytes: Uint8Array<ArrayBuffer>
  private readonly view: DataView
  private at = 0

  constructor(length: number) {
    this.bytes = new Uint8Array(length)
    this.view = new DataView(this.bytes.buffer)
  }

  u16(v: number): this {
    this.view.setUint16(this.at, v, true)
    this.at += 2
    return this
  }

  u32(v: number): this {
    this.view.setUint32(this.at, v >>> 0, true)
    this.at += 4
    return this
  }

  u64(v: number): this {
    this.view.setBigUint64(this.at, BigInt(v), true)
    this.at += 8
    return this
  }

  raw(b: Uint8Array): this {
    this.bytes.set(b, this.at)
    this.at += b.length
    return this
  }
}
