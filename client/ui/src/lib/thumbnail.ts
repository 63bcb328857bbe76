import { peerLimits } from '../../../../shared/index.ts'

/** A preview small enough for the offer, and the picture's real size. */
export { isInlineImage } from '../../../core/index.ts'

export interface Thumbnail {
  readonly bytes: Blob
  readonly mime: 'image/jpeg' | 'image/webp'
  readonly width: number
  readonly height: number
}

/** The long side of a thumbnail, in pixels (shown at up to 20rem, so sharp enough on most screens). */
const thumbnailLongSidePx = 320
const qualities = [0.8, 0.65, 0.5, 0.35]

/**
 * Decodes the image and draws a small copy as WebP (JPEG where the browser cannot encode WebP),
 * lowering the quality until it fits in an offer. Undefined when the image cannot be decoded or
 * no copy fits: the file is then sent without a preview.
 */
export async function makeThumbnail(file: Blob): Promise<Thumbnail | undefined> {
  let bitmap: ImageBitmap | undefined
  try {
    bitmap = await createImageBitmap(file)
    const { width, height } = bitmap
    if (width === 0 || height === 0) return undefined
    const scale = Math.min(1, thumbnailLongSidePx / Math.max(width, height))
    const w = Math.max(1, Math.round(width * scale))
    const h = Math.max(1, Math.round(height * scale))
    const canvas = new OffscreenCanvas(w, h)
    const ctx = canvas.getContext('2d')
    if (ctx === null) return undefined
    ctx.drawImage(bitmap, 0, 0, w, h)
    const encode = (type: string, quality: number) => canvas.convertToBlob({ type, quality })
    const first = await encode('image/webp', qualities[0] ?? 0.8)
    const mime: Thumbnail['mime'] = first.type === 'image/webp' ? 'image/webp' : 'image/jpeg'
    if (mime === 'image/jpeg') {
      // No WebP encoder here. JPEG has no transparency, so paint white behind the picture.
      ctx.globalCompositeOperation = 'destination-over'
      ctx.fillStyle = '#ffffff'
      ctx.fillRect(0, 0, w, h)
    }
    for (const [i, quality] of qualities.entries()) {
      const blob = i === 0 && mime === 'image/webp' ? first : await encode(mime, quality)
      if (blob.size > 0 && blob.size <= peerLimits.maxThumbnailBytes)
        return { bytes: blob, mime, width, height }
    }
    return undefined
  } catch (e: unknown) {
    console.warn('no thumbnail for this image', e)
    return undefined
  } finally {
    bitmap?.close()
  }
}

/** Fits a picture of `width`×`height` into a `box`-pixel square, keeping its shape. */
export function fitInto(width: number, height: number, box: number): { width: number; height: number } {
  const scale = Math.min(1, box / Math.max(width, height))
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) }
}

const thumbnailTypes = new Set(['image/jpeg', 'image/png', 'image/webp'])

/**
 * The thumbnail sent in a file offer as a data: URL (the page's CSP allows data: images), or
 * undefined when there is none or its type is not one a thumbnail may have.
 */
export function thumbnailUrl(file: { thumbnail?: string; thumbnailMime?: string }): string | undefined {
  const { thumbnail, thumbnailMime } = file
  if (thumbnail === undefined || thumbnailMime === undefined || !thumbnailTypes.has(thumbnailMime))
    return undefined
  if (!/^[A-Za-z0-9_-]+$/.test(thumbnail)) return undefined
  const base64 = thumbnail.replaceAll('-', '+').replaceAll('_', '/')
  return `data:${thumbnailMime};base64,${base64}${'='.repeat((4 - (base64.length % 4)) % 4)}`
}
