import { fromBase64Url } from '../../../crypto/index.ts'
import { peerLimits } from '../../../shared/index.ts'
import type { FileRecord } from '../store/db.ts'
import type { FileContent, MessageContent } from '../store/history.ts'
import { neutraliseBidi } from './file-name.ts'
import type { FileMeta } from './file-store.ts'

// Names, types, thumbnails and storage room: small decisions about a file, in one place.

/** Media types shown inline. SVG is left out: it is a document that can carry scripts. */
const inlineImageTypes = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
])
export const isInlineImage = (mime: string): boolean => inlineImageTypes.has(mime.toLowerCase())

export function fileContent(fileId: string, r: FileRecord, meta: FileMeta): MessageContent {
  const file: FileContent = {
    fileId,
    kind: r.kind,
    name: meta.name,
    size: r.size,
    mime: meta.mime,
    ...(meta.thumbnail === undefined ? {} : { thumbnail: meta.thumbnail }),
    ...(meta.thumbnailMime === undefined ? {} : { thumbnailMime: meta.thumbnailMime }),
    ...(meta.width === undefined ? {} : { width: meta.width }),
    ...(meta.height === undefined ? {} : { height: meta.height }),
  }
  return { text: meta.name, file }
}

/** The thumbnail of a file message as bytes (for a Blob URL), if it has one. */
export function thumbnailBytes(file: FileContent): Uint8Array | undefined {
  return file.thumbnail === undefined ? undefined : fromBase64Url(file.thumbnail)
}

/**
 * Control characters and path separators go, bidi controls are neutralised (file-name.ts: they
 * could disguise the extension), and long names keep their extension.
 */
export function cleanName(name: string): string {
  let replaced = ''
  for (const ch of name) {
    const code = ch.charCodeAt(0)
    replaced += code < 0x20 || code === 0x7f || ch === '/' || ch === '\\' ? '_' : ch
  }
  const clean = neutraliseBidi(replaced).trim() || 'file'
  const max = peerLimits.maxFileNameLength
  if (clean.length <= max) return clean
  const dot = clean.lastIndexOf('.')
  const ext = dot > 0 && clean.length - dot <= 16 ? clean.slice(dot) : ''
  return clean.slice(0, max - ext.length) + ext
}

export function cleanMime(mime: string): string {
  const m = mime.trim().toLowerCase()
  return m.length <= peerLimits.maxMimeLength && /^[a-z0-9!#$&^_.+/-]*$/.test(m) ? m : ''
}

export const clampSide = (n: number): number => Math.max(1, Math.min(peerLimits.maxImageSide, Math.round(n)))

export async function bytesOf(b: Uint8Array | Blob): Promise<Uint8Array> {
  return b instanceof Uint8Array ? b : new Uint8Array(await b.arrayBuffer())
}

/** Where the browser can estimate its quota, whether `bytes` more would fit. */
export async function hasRoomFor(bytes: number): Promise<boolean> {
  const storage = (globalThis as { navigator?: { storage?: { estimate?: () => Promise<StorageEstimate> } } })
    .navigator?.storage
  if (storage?.estimate === undefined) return true
  try {
    const { quota, usage } = await storage.estimate()
    // Chunk overhead and records: about 1 %, and room for the rest of the history.
    return quota === undefined || usage === undefined || quota - usage > bytes * 1.01 + 16 * 1024 * 1024
  } catch {
    return true
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
