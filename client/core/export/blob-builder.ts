/**
 * Builds a Blob from many small pieces of text or bytes without holding them all as JavaScript
 * strings: pieces are gathered into Blobs of a few MiB as they come (browsers keep Blob data
 * outside the JavaScript heap, on disk when large).
 */
export class BlobBuilder {
  private readonly parts: Blob[] = []
  private pending: BlobPart[] = []
  private pendingBytes = 0

  constructor(private readonly batchBytes = 4 * 1024 * 1024) {}

  add(piece: string | Uint8Array | Blob): void {
    this.pending.push(piece as BlobPart)
    // Strings count by UTF-16 length: close enough to decide when to make a Blob.
    this.pendingBytes +=
      typeof piece === 'string' ? piece.length : piece instanceof Blob ? piece.size : piece.length
    if (this.pendingBytes >= this.batchBytes) this.seal()
  }

  finish(type: string): Blob {
    this.seal()
    return new Blob(this.parts, { type })
  }

  private seal(): void {
    if (this.pending.length === 0) return
    this.parts.push(new Blob(this.pending))
    this.pending = []
    this.pendingBytes = 0
  }
}
