import jsQR from 'jsqr'
import { beforeAll, describe, expect, it } from 'vitest'
import { encodeQr, type QrCode } from '../../../../client/ui/src/lib/qr.ts'
import { generateIdentity, initCrypto, safetyQrPayload } from '../../../../crypto/index.ts'

/** The code drawn as the safety pane draws it: dark on white, a 4-module quiet zone, `unit` pixels per module (RGBA). */
function render(qr: QrCode, unit: number): { data: Uint8ClampedArray; width: number } {
  const quiet = 4
  const width = (qr.size + 2 * quiet) * unit
  const data = new Uint8ClampedArray(width * width * 4).fill(255)
  qr.modules.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (!dark) return
      for (let dy = 0; dy < unit; dy++)
        for (let dx = 0; dx < unit; dx++) {
          const at = (((y + quiet) * unit + dy) * width + (x + quiet) * unit + dx) * 4
          data[at] = data[at + 1] = data[at + 2] = 0
        }
    }),
  )
  return { data, width }
}

describe('safety-number QR code', () => {
  beforeAll(async () => {
    await initCrypto()
  })

  it('is read back by an independent QR reader as exactly the safety payload', () => {
    const alice = { identityKey: generateIdentity().identityKey.publicKey, username: 'alice' }
    const bob = { identityKey: generateIdentity().identityKey.publicKey, username: 'bob' }
    const payload = safetyQrPayload(alice, bob)
    const qr = encodeQr(payload)
    expect(qr.modules).toHaveLength(qr.size)
    const { data, width } = render(qr, 4)
    expect(jsQR(data, width, width)?.data).toBe(payload)
  })

  it('encodes any text it is given, including non-ASCII, so that it reads back the same', () => {
    for (const text of ['x', 'https://tincan.example/add/bob', '北京 👋 '.repeat(20)]) {
      const { data, width } = render(encodeQr(text), 3)
      expect(jsQR(data, width, width)?.data).toBe(text)
    }
  })
})
