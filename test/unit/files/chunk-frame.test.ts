import { beforeAll, describe, expect, it } from 'vitest'
import { chunkFrames, chunkSizeFor, readChunkFrame } from '../../../client/core/files/chunk-frame.ts'
import { maxMessageBytesFromSdp } from '../../../client/core/peer/link.ts'
import { initCrypto, newFileId, toBase64Url } from '../../../crypto/index.ts'

beforeAll(async () => {
  await initCrypto()
})

describe('file chunk frames', () => {
  it('carries a chunk whole when it fits, with the file id, the index and the last-piece flag', () => {
    const id = newFileId()
    const wire = new Uint8Array(1000).map((_, i) => i & 0xff)
    const frames = chunkFrames(id, 70_000, wire, 256 * 1024)
    expect(frames).toHaveLength(1)
    const frame = frames[0] ?? new Uint8Array()
    expect(frame[0]).toBe(0x04)
    expect(frame.length).toBe(22 + 1000)
    const piece = readChunkFrame(frame.subarray(1))
    expect(piece?.fileId).toBe(toBase64Url(id))
    expect(piece?.index).toBe(70_000)
    expect(piece?.last).toBe(true)
    expect(piece?.piece).toEqual(wire)
  })

  it('splits a chunk into pieces when the connection takes smaller messages', () => {
    const id = newFileId()
    const wire = new Uint8Array(10_000).map((_, i) => (i * 7) & 0xff)
    const frames = chunkFrames(id, 3, wire, 4096)
    expect(frames.every((f) => f.length <= 4096)).toBe(true)
    const pieces = frames.map((f) => readChunkFrame(f.subarray(1)))
    expect(pieces.map((p) => p?.last)).toEqual([false, false, true])
    const joined = new Uint8Array(pieces.reduce((n, p) => n + (p?.piece.length ?? 0), 0))
    let at = 0
    for (const p of pieces) {
      joined.set(p?.piece ?? new Uint8Array(), at)
      at += p?.piece.length ?? 0
    }
    expect(joined).toEqual(wire)
  })

  it('sends an empty chunk (an empty file) as one frame', () => {
    const frames = chunkFrames(newFileId(), 0, new Uint8Array(0), 65536)
    expect(frames).toHaveLength(1)
    expect(readChunkFrame(frames[0]?.subarray(1) ?? new Uint8Array())?.last).toBe(true)
  })

  it('refuses a frame too short to hold the header', () => {
    expect(readChunkFrame(new Uint8Array(20))).toBeNull()
  })

  it('cuts chunks so that a whole encrypted chunk and its header fit the remote max-message-size', () => {
    expect(chunkSizeFor(262_144)).toBe(255 * 1024)
    expect(chunkSizeFor(262_144) + 22 + 24 + 17).toBeLessThanOrEqual(262_144)
    expect(chunkSizeFor(65_536)).toBe(63 * 1024)
    expect(chunkSizeFor(16_384)).toBe(15 * 1024)
    expect(chunkSizeFor(1_073_741_823)).toBe(256 * 1024)
  })

  it('reads max-message-size from the SDP, with a 16 KiB fallback and a 256 KiB cap', () => {
    expect(maxMessageBytesFromSdp('v=0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n')).toBe(262_144)
    expect(maxMessageBytesFromSdp('v=0\r\na=max-message-size:1073741823\r\n')).toBe(262_144)
    expect(maxMessageBytesFromSdp('v=0\r\na=max-message-size:0\r\n')).toBe(262_144)
    expect(maxMessageBytesFromSdp('v=0\r\na=max-message-size:65536\r\n')).toBe(65_536)
    expect(maxMessageBytesFromSdp('v=0\r\na=sctp-port:5000\r\n')).toBe(16_384)
  })
})
