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
const option = (name: string): string | undefined => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}
const top = Number(option('--top') ?? 25)
// `--from S --to S`: only the samples in that window (seconds from the start of the profile),
// e.g. the relay phase of a bench without the accounts set up before it.
const fromS = Number(option('--from') ?? 0)
const toS = Number(option('--to') ?? Infinity)
const files = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'))

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  let atUs = 0
  const busyPerS: number[] = []
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    atUs += delta
    const second = Math.floor(atUs / 1e6)
    if (byId.get(id)?.callFrame.functionName !== '(idle)') busyPerS[second] = (busyPerS[second] ?? 0) + delta
    if (atUs < fromS * 1e6 || atUs > toS * 1e6) return
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta)
  })
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
    `\n${file}\nbusy ${(busyUs / 1e6).toFixed(2)} s, idle ${(idleUs / 1e6).toFixed(2)} s`,
    `\nbusy share per second: ${Array.from(busyPerS, (us) => Math.round((us ?? 0) / 1e4)).join(' ')}\n\nby place:`,
  )
  for (const [place, us] of [...byPlace].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${pct(us)}  ${place}`)
  console.log('\nby function (self time):')
  for (const [fn, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${pct(us)}  ${fn}`)
}
