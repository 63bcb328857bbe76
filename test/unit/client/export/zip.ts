import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const hasPython = spawnSync('python3', ['-c', 'import zipfile'], { stdio: 'ignore' }).status === 0
export const hasUnzip = spawnSync('unzip', ['-v'], { stdio: 'ignore' }).status === 0

export interface ZipListing {
  /** CRC errors found by Python's zipfile (null: none). */
  readonly bad: string | null
  readonly entries: { name: string; size: number; sha256: string; compressType: number }[]
}

const script = `
import hashlib, json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    bad = z.testzip()
    out = [{"name": i.filename, "size": i.file_size, "compressType": i.compress_type,
            "sha256": hashlib.sha256(z.read(i)).hexdigest()} for i in z.infolist()]
print(json.dumps({"bad": bad, "entries": out}))
`

/** Writes the ZIP to a temporary file and reads it back with Python's zipfile (and `unzip -t` if present). */
export async function readZip(blob: Blob): Promise<ZipListing & { unzipOk: boolean | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'tincan-zip-'))
  try {
    const path = join(dir, 'test.zip')
    writeFileSync(path, new Uint8Array(await blob.arrayBuffer()))
    const listing = JSON.parse(
      execFileSync('python3', ['-c', script, path], { encoding: 'utf8' }),
    ) as ZipListing
    const unzipOk = hasUnzip ? spawnSync('unzip', ['-tq', path], { stdio: 'ignore' }).status === 0 : null
    return { ...listing, unzipOk }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
