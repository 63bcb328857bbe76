import qrcode from 'qrcode-generator'

// QR codes are made by qrcode-generator (Kazuhiko Arase's encoder, ISO/IEC 18004) and read back
// by jsQR in the tests (test/unit/client/ui/qr.test.ts), so what we show is known to scan.

export interface QrCode {
  readonly size: number
  /** Row-major, true for a dark module. */
  readonly modules: readonly (readonly boolean[])[]
}

/**
 * `text` as a QR code in byte mode (UTF-8) at error-correction level M (the smallest version that holds
 * it): the 87-character safety payload fits version 6 with room for a smudged screen.
 * @throws Error from the encoder if `text` does not fit any version (over ~2,300 bytes).
 */
export function encodeQr(text: string): QrCode {
  const qr = qrcode(0, 'M')
  // The encoder keeps the low byte of each UTF-16 unit: hand it the UTF-8 bytes, one per unit.
  qr.addData(String.fromCharCode(...new TextEncoder().encode(text)), 'Byte')
  qr.make()
  const size = qr.getModuleCount()
  const modules = Array.from({ length: size }, (_, row) =>
    Array.from({ length: size }, (_, col) => qr.isDark(row, col)),
  )
  return { size, modules }
}
