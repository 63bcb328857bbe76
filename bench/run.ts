// `npm run bench [name…]`: runs every bench/*.bench.ts (or the named ones), then rewrites
// bench/results.json and docs/BENCHMARKS.md. Figures of benches not run this time are kept.
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Bench, BenchResult } from './types.ts'

interface Run {
  readonly date: string
  readonly machine: string
  readonly results: readonly BenchResult[]
}
type Results = Record<string, Run>

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const resultsPath = join(here, 'results.json')
const docPath = join(root, 'docs', 'BENCHMARKS.md')

const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`

function format(value: number): string {
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US')
  if (Math.abs(value) >= 10) return value.toFixed(1)
  return value.toFixed(2)
}

function render(results: Results): string {
  const lines = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (do not edit by hand). Each figure sits beside its target; "met" says',
    'whether this run reached it, "before" the figure it replaces. Figures move ±30 % from run to run on',
    'the shared 2-core machine. Where a target is not met, docs/PERFORMANCE.md says where the time or',
    'the memory goes and what would close the gap.',
    '',
  ]
  const names = Object.keys(results).sort((a, b) => {
    const ia = results[a]?.results[0]?.issue ?? 0
    const ib = results[b]?.results[0]?.issue ?? 0
    return ia - ib || a.localeCompare(b)
  })
  for (const name of names) {
    const run = results[name]
    if (run === undefined) continue
    lines.push(
      `## ${name} (issue ${run.results[0]?.issue ?? '?'})`,
      '',
      `Run ${run.date} on ${run.machine}.`,
      '',
    )
    // A "before" column where some figure replaces an earlier one.
    const before = run.results.some((r) => r.before !== undefined)
    lines.push(
      `| metric | figure |${before ? ' before |' : ''} target | met | conditions |`,
      `|---|---|${before ? '---|' : ''}---|---|---|`,
    )
    for (const r of run.results) {
      const met = r.met === null ? '—' : r.met ? 'yes' : '**no**'
      const was = before ? ` ${r.before ?? '—'} |` : ''
      lines.push(
        `| ${r.metric} | ${format(r.value)} ${r.unit} |${was} ${r.target || '—'} | ${met} | ${r.conditions} |`,
      )
    }
    lines.push('')
  }
  return lines.join('\n')
}

const wanted = process.argv.slice(2)
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.bench\.ts$/, '')))
  .sort()
if (files.length === 0) {
  console.error(`no benchmarks match ${wanted.join(', ')}`)
  process.exit(2)
}

const results: Results = existsSync(resultsPath)
  ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as Results)
  : {}
for (const file of files) {
  const bench = ((await import(join(here, file))) as { default: Bench }).default
  console.log(`\n== ${bench.name}`)
  const started = Date.now()
  const figures = await bench.run()
  for (const r of figures)
    console.log(
      `  ${r.metric}: ${format(r.value)} ${r.unit}${r.target ? `  (target ${r.target}: ${r.met ? 'met' : 'NOT met'})` : ''}`,
    )
  console.log(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  results[bench.name] = { date: new Date().toISOString().slice(0, 10), machine, results: figures }
  writeFileSync(resultsPath, JSON.stringify(results, null, 2) + '\n')
  writeFileSync(docPath, render(results))
}
console.log(`\nwrote ${resultsPath} and ${docPath}`)
