// Issue 16: Tincan's ZIP writer (client/core/export/zip-writer.ts) against client-zip, the
// maintained streaming writer, on the same data: both store entries uncompressed and compute
// each entry's CRC-32 as the data goes by, so throughput is what tells them apart. The writer
// that was kept is the faster one (docs/EXPORT.md).
import { performance } from 'node:perf_hooks'
import { makeZip } from 'client-zip'
import { ZipWriter } from '../client/core/export/zip-writer.ts'
import type { Bench, BenchResult } from './types.ts'

const issue = 16
const MiB = 1024 * 1024
const chunkBytes = 4 * MiB
const fileCount = 8
const chunksPerFile = 8
const totalBytes = fileCount * chunksPerFile * chunkBytes
const passes = 5

const chunk = new Uint8Array(chunkBytes).map((_, i) => (i * 31 + (i >> 12)) & 0xff)

async function* fileData(): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < chunksPerFile; i++) yield await Promise.resolve(chunk)
}

const name = (f: number): string => `attachments/${f}/photo ${f}.jpg`

async function ours(): Promise<number> {
  const start = performance.now()
  const zip = new ZipWriter()
  for (let f = 0; f < fileCount; f++) await zip.add(name(f), fileData())
  const blob = zip.finish()
  if (blob.size < totalBytes) throw new Error('short archive')
  return performance.now() - start
}

async function clientZip(): Promise<number> {
  const start = performance.now()
  function* entries() {
    for (let f = 0; f < fileCount; f++) yield { name: name(f), input: fileData(), lastModified: new Date() }
  }
  const blob = await new Response(makeZip(entries())).blob()
  if (blob.size < totalBytes) throw new Error('short archive')
  return performance.now() - start
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

const bench: Bench = {
  name: 'zip',
  async run() {
    const oursMs: number[] = []
    const libMs: number[] = []
    // Alternate, so a burst of load on the shared machine hits both alike.
    for (let i = 0; i < passes; i++) {
      oursMs.push(await ours())
      libMs.push(await clientZip())
    }
    const rate = (ms: number): number => totalBytes / MiB / (ms / 1000)
    const oursRate = rate(median(oursMs))
    const libRate = rate(median(libMs))
    console.log(`  ours ${oursRate.toFixed(0)} MiB/s, client-zip ${libRate.toFixed(0)} MiB/s`)
    const conditions = `${fileCount} entries of ${(chunksPerFile * chunkBytes) / MiB} MiB fed in ${chunkBytes / MiB} MiB chunks, stored, into a Blob; median of ${passes} passes each, alternating; Node ${process.version}`
    const results: BenchResult[] = [
      {
        issue,
        metric: 'ZIP writer throughput, Tincan (zip-writer.ts)',
        value: oursRate,
        unit: 'MiB/s',
        target: '',
        met: null,
        conditions,
      },
      {
        issue,
        metric: 'ZIP writer throughput, client-zip 2.5.1',
        value: libRate,
        unit: 'MiB/s',
        target: '',
        met: null,
        conditions,
      },
      {
        issue,
        metric: 'Tincan / client-zip',
        value: oursRate / libRate,
        unit: 'ratio',
        target: '≥ 1 to keep our writer',
        met: oursRate >= libRate,
        conditions: 'same run, same data',
      },
    ]
    return results
  },
}
export default bench
