// Issue 17: where a server's CPU time went, from a `node --cpu-prof` profile (BENCH_CPU_PROF=dir
// on a bench writes one per server process). Prints self time by package or source folder, and
// the functions with the most self time, each as a share of the time the process was not idle.
//
//   npx tsx bench/cpu-profile.ts /tmp/prof/CPU.*.cpuprofile [--top 30]
import { readFileSync } from 'node:fs'

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
}
interface Profile {
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

function where(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg !== null) return pkg[1] ?? url
  if (url.startsWith('node:')) return url.split('/')[0] ?? url
  const own = /\/(signaling|shared|bench|client|crypto)\/(.*)$/.exec(url)
  if (own !== null) return `${own[1] ?? ''}/${own[2] ?? ''}`
  return url
}

const args = process.argv.slice(2)
const topAt = args.indexOf('--top')
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25
const files = args.filter((a, i) => !a.startsWith('--') && (topAt < 0 || i !== topAt + 1))

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const byPlace = new Map<string, number>()
  const byFunction = new Map<string, number>()
  let busyUs = 0
  let idleUs = 0
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame
    if (frame === undefined) continue
    if (frame.functionName === '(idle)') {
      idleUs += us
      continue
    }
    busyUs += us
    const place = where(frame.url, frame.functionName)
    byPlace.set(place, (byPlace.get(place) ?? 0) + us)
    const fn = `${frame.functionName || '(anonymous)'} ${place}:${frame.lineNumber + 1}`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us)
  }
  const pct = (us: number): string => `${((100 * us) / busyUs).toFixed(1).padStart(5)} %`
  console.log(
    `\n${file}\nbusy ${(busyUs / 1e6).toFixed(2)} s, idle ${(idleUs / 1e6).toFixed(2)} s\n\nby place:`,
  )
  for (const [place, us] of [...byPlace].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${pct(us)}  ${place}`)
  console.log('\nby function (self time):')
  for (const [fn, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${pct(us)}  ${fn}`)
}
