import { DataError } from './errors.ts'
import { fromTaggedJson, toTaggedJson } from './tagged-json.ts'

// The plaintext inside an encrypted backup (crypto/backup.ts wraps it in secretstream frames):
// a sequence of items, all integers big-endian.
//
//   item      = kind u8 | length u32 | payload (length bytes)
//   kind 1    header: JSON { format: "tincan-backup", version, username, createdAt, dbVersion }
//   kind 2    record: tagged JSON { s: store, k?: key, v: value }   (k only for stores whose
//             records do not hold their own key; tagged JSON carries bytes, see tagged-json.ts)
//   kind 3    bytes record: JSON length u32 | JSON { s, k } | the value's bytes (file chunks:
//             no base64 for the bulk of a backup)
//   kind 4    end: JSON { counts: { [store]: records } }; must be the last item
//
// The end item's counts let a restore see a backup that lost whole items, although the
// secretstream final tag already refuses a file cut short.

export const backupFormat = 'tincan-backup'
export const backupVersion = 1
const maxItemBytes = 64 * 1024 * 1024

const kindHeader = 1
const kindRecord = 2
const kindBytes = 3
const kindEnd = 4

export interface BackupHeader {
  readonly format: typeof backupFormat
  readonly version: number
  readonly username: string
  readonly createdAt: number
  /** IndexedDB schema version of the device that made it. */
  readonly dbVersion: number
}

export type BackupKey = string | number | readonly (string | number)[]

export type BackupItem =
  | { readonly kind: 'header'; readonly header: BackupHeader }
  | { readonly kind: 'record'; readonly store: string; readonly key?: BackupKey; readonly value: unknown }
  | { readonly kind: 'end'; readonly counts: Readonly<Record<string, number>> }

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** Collects items into buffers of about `flushBytes`, handed to `sink` as they fill. */
export class ItemWriter {
  private buffer: Uint8Array
  private used = 0

  constructor(
    private readonly sink: (bytes: Uint8Array) => void,
    private readonly flushBytes = 1024 * 1024,
  ) {
    this.buffer = new Uint8Array(flushBytes + 1024)
  }

  header(h: BackupHeader): void {
    this.text(kindHeader, JSON.stringify(h))
  }

  record(store: string, value: unknown, key?: BackupKey): void {
    this.text(
      kindRecord,
      toTaggedJson(key === undefined ? { s: store, v: value } : { s: store, k: key, v: value }),
    )
  }

  bytes(store: string, key: BackupKey, value: Uint8Array): void {
    const json = encoder.encode(JSON.stringify({ s: store, k: key }))
    const payload = new Uint8Array(4 + json.length + value.length)
    new DataView(payload.buffer).setUint32(0, json.length)
    payload.set(json, 4)
    payload.set(value, 4 + json.length)
    this.item(kindBytes, payload)
  }

  end(counts: Record<string, number>): void {
    this.text(kindEnd, JSON.stringify({ counts }))
    this.flush()
  }

  flush(): void {
    if (this.used === 0) return
    this.sink(this.buffer.subarray(0, this.used))
    this.buffer = new Uint8Array(this.buffer.length)
    this.used = 0
  }

  /** A text item, encoded straight into the buffer when it fits (no copy in between). */
  private text(kind: number, text: string): void {
    const most = 5 + text.length * 3
    if (most > this.buffer.length - this.used) {
      this.flush()
      if (most > this.buffer.length) {
        this.item(kind, encoder.encode(text))
        return
      }
    }
    const { written } = encoder.encodeInto(text, this.buffer.subarray(this.used + 5))
    writeItemHead(this.buffer.subarray(this.used), kind, written)
    this.used += 5 + written
    if (this.used >= this.flushBytes) this.flush()
  }

  private item(kind: number, payload: Uint8Array): void {
    const need = 5 + payload.length
    if (this.used + need > this.buffer.length) {
      this.flush()
      if (need > this.buffer.length) {
        // A large item goes out on its own.
        const big = new Uint8Array(need)
        writeItemHead(big, kind, payload.length)
        big.set(payload, 5)
        this.sink(big)
        return
      }
    }
    writeItemHead(this.buffer.subarray(this.used), kind, payload.length)
    this.buffer.set(payload, this.used + 5)
    this.used += need
    if (this.used >= this.flushBytes) this.flush()
  }
}

function writeItemHead(into: Uint8Array, kind: number, length: number): void {
  into[0] = kind
  new DataView(into.buffer, into.byteOffset).setUint32(1, length)
}

const damaged = (what: string, cause?: unknown): DataError =>
  new DataError('damaged', `the backup is damaged: ${what}`, cause === undefined ? {} : { cause })

/** Parses items out of plaintext chunks as they come; `finish()` checks nothing is left over. */
export class ItemReader {
  private pending: Uint8Array = new Uint8Array(0)

  push(chunk: Uint8Array): BackupItem[] {
    this.pending = this.pending.length === 0 ? chunk : concat(this.pending, chunk)
    const out: BackupItem[] = []
    let at = 0
    while (this.pending.length - at >= 5) {
      const kind = this.pending[at] as number
      const length = new DataView(this.pending.buffer, this.pending.byteOffset + at + 1).getUint32(0)
      if (length > maxItemBytes) throw damaged('an item is too large')
      if (this.pending.length - at - 5 < length) break
      out.push(parseItem(kind, this.pending.subarray(at + 5, at + 5 + length)))
      at += 5 + length
    }
    this.pending = at === 0 ? this.pending : this.pending.slice(at)
    return out
  }

  finish(): void {
    if (this.pending.length > 0) throw damaged('it ends inside an item')
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

function json(bytes: Uint8Array, tagged: boolean): unknown {
  try {
    const text = decoder.decode(bytes)
    return tagged ? fromTaggedJson(text) : (JSON.parse(text) as unknown)
  } catch (e: unknown) {
    throw damaged('an item does not parse', e)
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** Keys a backup can carry through JSON: strings, finite numbers, and arrays of them. */
export function isBackupKey(k: unknown): k is BackupKey {
  const scalar = (x: unknown): boolean =>
    typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x))
  return scalar(k) || (Array.isArray(k) && k.every(scalar))
}

function parseItem(kind: number, payload: Uint8Array): BackupItem {
  switch (kind) {
    case kindHeader: {
      const h = json(payload, false)
      if (
        !isObject(h) ||
        h['format'] !== backupFormat ||
        typeof h['version'] !== 'number' ||
        typeof h['username'] !== 'string' ||
        typeof h['createdAt'] !== 'number' ||
        typeof h['dbVersion'] !== 'number'
      )
        throw damaged('bad header')
      return { kind: 'header', header: h as unknown as BackupHeader }
    }
    case kindRecord: {
      const r = json(payload, true)
      if (
        !isObject(r) ||
        typeof r['s'] !== 'string' ||
        !('v' in r) ||
        (r['k'] !== undefined && !isBackupKey(r['k']))
      )
        throw damaged('bad record')
      const key = r['k']
      return key === undefined
        ? { kind: 'record', store: r['s'], value: r['v'] }
        : { kind: 'record', store: r['s'], key, value: r['v'] }
    }
    case kindBytes: {
      if (payload.length < 4) throw damaged('bad bytes record')
      const jsonLength = new DataView(payload.buffer, payload.byteOffset).getUint32(0)
      if (jsonLength > payload.length - 4) throw damaged('bad bytes record')
      const r = json(payload.subarray(4, 4 + jsonLength), false)
      if (!isObject(r) || typeof r['s'] !== 'string' || !isBackupKey(r['k']))
        throw damaged('bad bytes record')
      return { kind: 'record', store: r['s'], key: r['k'], value: payload.slice(4 + jsonLength) }
    }
    case kindEnd: {
      const e = json(payload, false)
      const counts = isObject(e) ? e['counts'] : undefined
      if (!isObject(counts) || !Object.values(counts).every((n) => typeof n === 'number'))
        throw damaged('bad end record')
      return { kind: 'end', counts: counts as Record<string, number> }
    }
    default:
      throw damaged(`unknown item kind ${kind}`)
  }
}
