import { writeFileSync } from 'node:fs'
import qrcode from 'qrcode-generator'

// What Chromium's fake camera plays (`--use-file-for-fake-video-capture`): a Y4M file, a text
// header then raw frames. Layout: "YUV4MPEG2 W<w> H<h> F<fps>:1 Ip A1:1 C420jpeg\n", then per
// frame "FRAME\n", the luma plane (w×h bytes), then the two chroma planes (w/2 × h/2 bytes each,
// 128 = no colour). A QR code is black and white, so only luma carries it.

const width = 640
const height = 480
const framesPerSecond = 10
/** A few identical frames: the camera loops the file. */
const frameCount = 3
const quietModules = 4

/** Luma plane of `text` as a QR code (byte mode, UTF-8), black on white, centred, as large as fits. */
function qrLuma(text: string): Uint8Array {
  const qr = qrcode(0, 'M')
  qr.addData(String.fromCharCode(...new TextEncoder().encode(text)), 'Byte')
  qr.make()
  const modules = qr.getModuleCount()
  const unit = Math.floor(Math.min(width, height) / (modules + 2 * quietModules))
  const left = Math.floor((width - modules * unit) / 2)
  const top = Math.floor((height - modules * unit) / 2)
  const luma = new Uint8Array(width * height).fill(255)
  for (let row = 0; row < modules; row++)
    for (let col = 0; col < modules; col++) {
      if (!qr.isDark(row, col)) continue
      for (let y = 0; y < unit; y++)
        luma.fill(
          0,
          (top + row * unit + y) * width + left + col * unit,
          (top + row * unit + y) * width + left + (col + 1) * unit,
        )
    }
  return luma
}

/** Writes a Y4M video showing `text` as a QR code (undefined: a blank white picture) to `path`. */
export function writeQrVideo(path: string, text: string | undefined): void {
  const luma = text === undefined ? new Uint8Array(width * height).fill(255) : qrLuma(text)
  const chroma = new Uint8Array((width / 2) * (height / 2) * 2).fill(128)
  const frame = [Buffer.from('FRAME\n'), luma, chroma]
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F${framesPerSecond}:1 Ip A1:1 C420jpeg\n`)
  writeFileSync(path, Buffer.concat([header, ...Array.from({ length: frameCount }, () => frame).flat()]))
}
