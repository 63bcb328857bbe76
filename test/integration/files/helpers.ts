import { createCipheriv, createHash } from 'node:crypto'
import type { TincanClient } from '../../../client/core/client.ts'
import type { FileSource } from '../../../client/core/files/file-source.ts'
import type { FileTransferView, TransferState } from '../../../client/core/files/transfers.ts'
import { until } from '../../helpers/until.ts'
import { internals } from '../../helpers/internals.ts'

export const MiB = 1024 * 1024

/**
 * A file of any size that exists only as a function: AES-128-CTR keystream of a seed, so any
 * byte range can be produced on demand and the test never holds the whole file.
 */
export function patternSource(
  name: string,
  size: number,
  seed = 1,
  type = 'application/octet-stream',
): FileSource {
  const key = createHash('sha256').update(`seed ${seed}`).digest().subarray(0, 16)
  return {
    name,
    size,
    type,
    read(offset, length) {
      const start = Math.floor(offset / 16) * 16
      const iv = Buffer.alloc(16)
      iv.writeUIntBE(start / 16, 10, 6)
      const cipher = createCipheriv('aes-128-ctr', key, iv)
      const out = cipher.update(Buffer.alloc(offset - start + length))
      return Promise.resolve(new Uint8Array(out.buffer, out.byteOffset + (offset - start), length))
    },
  }
}

export async function sha256OfSource(source: FileSource): Promise<string> {
  const hash = createHash('sha256')
  for (let at = 0; at < source.size; at += 4 * MiB)
    hash.update(await source.read(at, Math.min(4 * MiB, source.size - at)))
  return hash.digest('hex')
}

export async function sha256Of(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256')
  for await (const c of chunks) hash.update(c)
  return hash.digest('hex')
}

/** The transfer's latest view as seen through the client's `file` events. */
export function watchFiles(client: TincanClient): Map<string, FileTransferView> {
  const seen = new Map<string, FileTransferView>()
  client.on('file', (f) => seen.set(f.fileId, f))
  return seen
}

export async function untilState(
  client: TincanClient,
  fileId: string,
  states: readonly TransferState[],
  timeoutMs = 60_000,
): Promise<FileTransferView> {
  return until(
    `${client.username}'s file ${fileId} to be ${states.join(' or ')}`,
    async () => {
      const view = await client.fileTransfer(fileId)
      return view !== undefined && states.includes(view.state) ? view : undefined
    },
    timeoutMs,
  )
}

interface RawLink {
  rtc: { destroy(): void; channel: { send(data: Uint8Array): void } | null }
}

/** The connection behind a client's link to a friend (test-only reach-in). */
export function rawLink(client: TincanClient, peer: string): RawLink | undefined {
  return (internals(client).peers as unknown as { links: Map<string, RawLink> }).links.get(peer)
}

/** Cuts the connection the way a network failure would: the RTCPeerConnection goes away. */
export function cut(client: TincanClient, peer: string): void {
  const link = rawLink(client, peer)
  if (link === undefined) throw new Error(`${client.username} has no connection to ${peer}`)
  link.rtc.destroy()
}

/** Resolves at the first progress event of the file at or past `fraction` of its size. */
export function progressPast(client: TincanClient, fileId: string, fraction: number): Promise<number> {
  return new Promise((resolve) => {
    const off = client.on('file-progress', (p) => {
      if (p.fileId === fileId && p.phase === 'transferring' && p.bytesDone >= fraction * p.bytesTotal) {
        off()
        resolve(p.bytesDone)
      }
    })
  })
}
