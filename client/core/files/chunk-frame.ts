import { fromBase64Url, toBase64Url } from '../../../crypto/index.ts'
import { peerLimits } from '../../../shared/index.ts'
import { frameFileChunk } from '../peer/link.ts'

// A file chunk on the data channel, outside the ratchet (the chunk is already secretstream
// ciphertext under the file's own key, authenticated with its position):
//
//   0x04 | file id (16) | chunk index u32 BE | flags u8 | piece
//
// flags bit 0: this piece ends the chunk. A chunk normally travels whole, as one piece; it is
// split only when the connection's max-message-size is smaller than the chunk it was cut for
// (files are encrypted when offered, before the connection that carries them exists).
const fileIdBytes = 16
export const chunkFrameHeaderBytes = 1 + fileIdBytes + 4 + 1
const flagLastPiece = 0x01

/** Secretstream overhead of one chunk: the segment header (first chunk of a segment) and the tag. */
const chunkCryptoOverheadBytes = 24 + 17

/**
 * The chunk size for a file to be sent over connections accepting `maxMessageBytes`: the
 * largest whole number of KiB whose frame still fits in one message.
 */
export function chunkSizeFor(maxMessageBytes: number): number {
  const room = maxMessageBytes - chunkFrameHeaderBytes - chunkCryptoOverheadBytes
  const kib = Math.floor(room / 1024) * 1024
  return Math.max(peerLimits.minChunkBytes, Math.min(peerLimits.maxChunkBytes, kib))
}

/** The frames carrying one encrypted chunk, each at most `maxMessageBytes`. */
export function chunkFrames(
  fileId: Uint8Array,
  index: number,
  wire: Uint8Array,
  maxMessageBytes: number,
): Uint8Array[] {
  const room = Math.max(1, maxMessageBytes - chunkFrameHeaderBytes)
  const frames: Uint8Array[] = []
  for (let at = 0; at < wire.length || frames.length === 0; at += room) {
    const piece = wire.subarray(at, at + room)
    const frame = new Uint8Array(chunkFrameHeaderBytes + piece.length)
    const view = new DataView(frame.buffer)
    frame[0] = frameFileChunk
    frame.set(fileId, 1)
    view.setUint32(1 + fileIdBytes, index)
    frame[chunkFrameHeaderBytes - 1] = at + room >= wire.length ? flagLastPiece : 0
    frame.set(piece, chunkFrameHeaderBytes)
    frames.push(frame)
  }
  return frames
}

export interface ChunkPiece {
  readonly fileId: string
  readonly index: number
  readonly last: boolean
  readonly piece: Uint8Array
}

/** Reads a chunk frame's body (after the type byte); null if it is too short. */
export function readChunkFrame(body: Uint8Array): ChunkPiece | null {
  if (body.length < chunkFrameHeaderBytes - 1) return null
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  return {
    fileId: toBase64Url(body.subarray(0, fileIdBytes)),
    index: view.getUint32(fileIdBytes),
    last: ((body[fileIdBytes + 4] ?? 0) & flagLastPiece) !== 0,
    piece: body.subarray(chunkFrameHeaderBytes - 1),
  }
}

export function fileIdToBytes(fileId: string): Uint8Array {
  return fromBase64Url(fileId, fileIdBytes, 'file id')
}
