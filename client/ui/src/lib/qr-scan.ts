import type jsQrModule from 'jsqr'
import { TincanError } from '../../../core/index.ts'

// Reading a QR code from the camera. The browser's own BarcodeDetector where it has one that
// reads QR codes (Chrome on Android and macOS, Safari); elsewhere (Chromium on Linux and Windows,
// Firefox) jsQR on frames drawn to a canvas, loaded only then (it is most of a scanner's weight). Frames are looked at a few times a second: a person
// holds a phone up for seconds, and decoding every frame would keep a core busy.

/** Time between two looks at the camera picture. */
const scanEveryMs = 150
/** Frames are scaled down to at most this many pixels across before jsQR reads them. */
const maxDecodeWidth = 640

type JsQr = typeof jsQrModule

interface DetectedBarcode {
  readonly rawValue: string
}
interface BarcodeDetectorLike {
  detect(source: CanvasImageSource): Promise<DetectedBarcode[]>
}
interface BarcodeDetectorClass {
  new (options: { formats: string[] }): BarcodeDetectorLike
  getSupportedFormats(): Promise<string[]>
}

/** Why scanning could not start: no camera, or the person (or the page's policy) said no. */
export const cameraProblems = ['no-camera', 'denied', 'unavailable'] as const
export type CameraProblem = (typeof cameraProblems)[number]

export class CameraError extends TincanError<CameraProblem> {
  override readonly name = 'CameraError'
  constructor(code: CameraProblem, options?: { cause?: unknown }) {
    super(code, `camera ${code}`, options)
  }
}

export interface QrScan {
  /** Stops the camera; nothing more is reported. */
  stop(): void
}

async function nativeDetector(): Promise<BarcodeDetectorLike | undefined> {
  const Detector = (globalThis as { BarcodeDetector?: BarcodeDetectorClass }).BarcodeDetector
  if (Detector === undefined) return undefined
  try {
    const formats = await Detector.getSupportedFormats()
    return formats.includes('qr_code') ? new Detector({ formats: ['qr_code'] }) : undefined
  } catch {
    return undefined
  }
}

function cameraProblem(e: unknown): CameraError {
  const name = e instanceof DOMException ? e.name : ''
  if (name === 'NotAllowedError' || name === 'SecurityError') return new CameraError('denied', { cause: e })
  if (name === 'NotFoundError' || name === 'OverconstrainedError')
    return new CameraError('no-camera', { cause: e })
  return new CameraError('unavailable', { cause: e })
}

/**
 * Opens the camera into `video` and reports the text of each QR code it sees to `found` until
 * stopped (the caller decides whether a code is the one it wanted).
 * @throws CameraError when the camera cannot be opened.
 */
export async function startQrScan(video: HTMLVideoElement, found: (text: string) => void): Promise<QrScan> {
  if (navigator.mediaDevices?.getUserMedia === undefined) throw new CameraError('unavailable')
  let stream: MediaStream
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: 'environment', width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    })
  } catch (e: unknown) {
    throw cameraProblem(e)
  }
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const stop = (): void => {
    stopped = true
    clearTimeout(timer)
    for (const track of stream.getTracks()) track.stop()
    video.srcObject = null
  }
  video.srcObject = stream
  video.muted = true
  video.playsInline = true
  try {
    await video.play()
  } catch (e: unknown) {
    stop()
    throw cameraProblem(e)
  }
  const detector = await nativeDetector()
  let jsQR: JsQr | undefined
  if (detector === undefined) {
    try {
      jsQR = (await import('jsqr')).default
    } catch (e: unknown) {
      stop()
      throw new CameraError('unavailable', { cause: e })
    }
  }
  const canvas = document.createElement('canvas')
  const context = canvas.getContext('2d', { willReadFrequently: true })

  const readFrame = async (): Promise<string | undefined> => {
    if (video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || video.videoWidth === 0) return undefined
    if (detector !== undefined) {
      const codes = await detector.detect(video)
      return codes[0]?.rawValue
    }
    if (context === null || jsQR === undefined) return undefined
    const scale = Math.min(1, maxDecodeWidth / video.videoWidth)
    canvas.width = Math.round(video.videoWidth * scale)
    canvas.height = Math.round(video.videoHeight * scale)
    context.drawImage(video, 0, 0, canvas.width, canvas.height)
    const image = context.getImageData(0, 0, canvas.width, canvas.height)
    // Dark on light is what Tincan and most apps show; the inverted pass covers dark themes.
    return jsQR(image.data, image.width, image.height, { inversionAttempts: 'attemptBoth' })?.data
  }

  const tick = async (): Promise<void> => {
    if (stopped) return
    try {
      const text = await readFrame()
      if (!stopped && text !== undefined && text !== '') found(text)
    } catch (e: unknown) {
      // One unreadable frame (the camera was switching, a detector hiccup) is no reason to stop.
      console.warn('QR scan: a frame could not be read', e)
    }
    if (!stopped) timer = setTimeout(() => void tick(), scanEveryMs)
  }
  void tick()
  return { stop }
}
