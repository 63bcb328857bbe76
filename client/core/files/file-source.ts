/**
 * Where a file to send comes from: a browser File or Blob (`blobSource`), or anything that can
 * read byte ranges (tests and benchmarks generate data on the fly and never hold it whole).
 */
export interface FileSource {
  readonly name: string
  readonly size: number
  /** Media type, or empty. */
  readonly type: string
  /** Bytes [offset, offset + length); exactly that many. */
  read(offset: number, length: number): Promise<Uint8Array>
}

export function isFileSource(x: Blob | FileSource): x is FileSource {
  return typeof (x as Partial<FileSource>).read === 'function'
}

/** A File (or Blob, with a name given) as a source. Reading a File can fail if it changed on disk. */
export function blobSource(blob: Blob, name?: string): FileSource {
  const fileName = name ?? (blob as Partial<File>).name ?? 'file'
  return {
    name: fileName,
    size: blob.size,
    type: blob.type,
    async read(offset, length) {
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer())
    },
  }
}
