import { appendFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  ReleaseMonitor,
  releaseChannelName,
  type ReleaseMemory,
} from '../../../client/core/release/release-monitor.ts'
import type { RememberedRelease } from '../../../client/core/release/release-watch.ts'
import { checkServedRelease, type ServedCheck } from '../../../client/core/release/served-release.ts'
import {
  ed25519KeyPair,
  ed25519KeyPairFromSeed,
  initCrypto,
  randomBytes,
  toBase64Url,
} from '../../../crypto/index.ts'
import { writeRelease } from '../../../scripts/release/client-release.ts'
import { signClientDir } from '../../../scripts/release/sign.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'

// A small client with the shape of the real one, served by the real server from CLIENT_DIR.
// The browser test (test/e2e/issue-14-release-check.test.ts) does the same with the real build.

let root: string
let clientDir: string
let server: TestServer
let releaseSeed: string
let releaseKey: Uint8Array
const channels: BroadcastChannel[] = []
const tabs: ReleaseMonitor[] = []

async function publish(version: string, script: string, sign: boolean): Promise<void> {
  rmSync(clientDir, { recursive: true, force: true })
  mkdirSync(join(clientDir, 'assets'), { recursive: true })
  writeFileSync(
    join(clientDir, 'index.html'),
    '<!doctype html><script type="module" src="/assets/index-a.js"></script>',
  )
  writeFileSync(join(clientDir, 'assets', 'index-a.js'), script)
  writeFileSync(join(clientDir, 'assets', 'worker.js'), 'self.onmessage = () => {}\n')
  writeFileSync(join(clientDir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
  await writeRelease(clientDir, {
    version,
    commit: undefined,
    publicKey: toBase64Url(releaseKey),
    publishedPath: join(root, 'no-releases.json'),
  })
  if (sign) await signClientDir(clientDir, { secretSeed: releaseSeed, publicKey: toBase64Url(releaseKey) })
}

const check = (publicKey: Uint8Array = releaseKey): Promise<ServedCheck> =>
  checkServedRelease({ fetch: (url, init) => fetch(url, init), origin: server.baseUrl, publicKey })

function memoryOf(): ReleaseMemory & { value: RememberedRelease | undefined } {
  const memory = {
    value: undefined as RememberedRelease | undefined,
    read: () => memory.value,
    write: (r: RememberedRelease) => {
      memory.value = r
    },
  }
  return memory
}

/** One open page: its own check, this browser's memory, and a channel shared with the other tabs. */
function openTab(memory: ReleaseMemory): ReleaseMonitor {
  const channel = new BroadcastChannel(releaseChannelName)
  const tab = new ReleaseMonitor({
    running: { version: '0.1.0', modulePath: 'assets/index-a.js' },
    check: () => check(),
    memory,
    channel,
  })
  tabs.push(tab)
  return tab
}

beforeAll(async () => {
  await initCrypto()
  root = mkdtempSync(join(tmpdir(), 'tincan-release-'))
  clientDir = join(root, 'client')
  const seed = randomBytes(32)
  releaseSeed = toBase64Url(seed)
  releaseKey = ed25519KeyPairFromSeed(seed).publicKey
  await publish('0.1.0', 'console.log("tincan")\n', true)
  server = await startServer({ env: { CLIENT_DIR: clientDir } })
})

afterEach(async () => {
  // Checks a tab started on another tab's word must not race the next test's files.
  await Promise.all(tabs.splice(0).map((t) => t.close()))
  for (const c of channels.splice(0)) c.close()
  await publish('0.1.0', 'console.log("tincan")\n', true)
})

afterAll(async () => {
  await server.close()
  rmSync(root, { recursive: true, force: true })
})

describe('what the server serves as the client', () => {
  it('is verified file by file and signed under the release key, and unsigned without its signature or under another key', async () => {
    const honest = await check()
    expect(honest.kind === 'release' && honest.release.signed).toBe(true)
    expect(honest.kind === 'release' && honest.release.paths).toEqual([
      'assets/index-a.js',
      'assets/worker.js',
      'favicon.svg',
      'index.html',
    ])
    const otherKey = await check(ed25519KeyPair().publicKey)
    expect(otherKey.kind === 'release' && otherKey.release.signed).toBe(false)
    writeFileSync(join(clientDir, 'release.sig'), 'not a signature\n')
    const garbled = await check()
    expect(garbled.kind === 'release' && garbled.release.signed).toBe(false)
    unlinkSync(join(clientDir, 'release.sig'))
    const unsigned = await check()
    expect(unsigned.kind === 'release' && unsigned.release.signed).toBe(false)
  })

  it('is found out when an implant is appended to a script, a file is gone, or the manifest is gone or altered', async () => {
    appendFileSync(
      join(clientDir, 'assets', 'index-a.js'),
      ';fetch("/api/x", { method: "POST", body: localStorage })\n',
    )
    expect(await check()).toEqual({ kind: 'incoherent', reason: 'file-changed', path: 'assets/index-a.js' })

    await publish('0.1.0', 'console.log("tincan")\n', true)
    unlinkSync(join(clientDir, 'assets', 'worker.js'))
    expect(await check()).toEqual({ kind: 'incoherent', reason: 'file-missing', path: 'assets/worker.js' })

    await publish('0.1.0', 'console.log("tincan")\n', true)
    const manifest = join(clientDir, 'release.json')
    appendFileSync(manifest, ' ')
    expect((await check()).kind).toBe('release') // whitespace changes nothing that is signed
    writeFileSync(
      manifest,
      '{"format":1,"version":"0.1.0","bundleHash":"' +
        'a'.repeat(64) +
        '","files":{"index.html":"' +
        'b'.repeat(64) +
        '"}}',
    )
    expect(await check()).toEqual({ kind: 'incoherent', reason: 'bad-manifest' })
    writeFileSync(manifest, '{"format":1,"files":{"../../etc/passwd":"x"}}')
    expect(await check()).toEqual({ kind: 'incoherent', reason: 'bad-manifest' })
    unlinkSync(manifest)
    expect(await check()).toEqual({ kind: 'incoherent', reason: 'no-manifest' })
  })

  it('is no verdict at all when the server cannot be reached', async () => {
    const gone = createServer()
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve))
    const { port } = gone.address() as AddressInfo
    await new Promise((resolve) => gone.close(resolve))
    const check = checkServedRelease({
      fetch: (url, init) => fetch(url, init),
      origin: `http://127.0.0.1:${port}`,
      publicKey: releaseKey,
    })
    expect(await check).toEqual({ kind: 'unreachable' })
  })
})

describe('open pages watching the served client', () => {
  it('all warn, once one tab sees the client change without a release signature', async () => {
    const memory = memoryOf()
    const first = openTab(memory)
    const second = openTab(memory)
    await first.checkNow()
    await second.checkNow()
    expect([first.current.alert, second.current.alert]).toEqual([{ kind: 'none' }, { kind: 'none' }])

    // The server swaps in its own build: coherent, with a manifest of its own, but not signed.
    await publish(
      '0.1.0',
      'console.log("tincan");fetch("/api/x", { method: "POST", body: localStorage })\n',
      false,
    )
    await first.checkNow()
    expect(first.current.alert).toMatchObject({ kind: 'warning', cause: 'changed-while-open' })
    // The second tab has not checked: the first one told it.
    const told = await until('the other tab to warn', () =>
      second.current.alert.kind === 'warning' ? second.current.alert : undefined,
    )
    expect(told).toMatchObject({ cause: 'changed-while-open', fromOtherTab: true })
  })

  it('take a warning or a request to check from another tab, never an all-clear or an update', async () => {
    const tab = openTab(memoryOf())
    await tab.checkNow()
    await publish('0.1.0', 'console.log("changed")\n', false)
    await tab.checkNow()
    expect(tab.current.alert.kind).toBe('warning')
    const checksBefore = tab.current.checks

    const rogue = new BroadcastChannel(releaseChannelName)
    channels.push(rogue)
    for (const forged of [
      { type: 'ack' },
      { type: 'none' },
      { type: 'update', version: '9.9.9' },
      { type: 'warning', cause: 'all-clear', key: 'x' },
    ])
      rogue.postMessage(forged)
    rogue.postMessage({ type: 'check' })
    await until('the tab to check for itself', () => tab.current.checks > checksBefore)
    expect(tab.current.alert).toMatchObject({ kind: 'warning', cause: 'changed-while-open' })
  })

  it('offer a newer release signed by the release key as an update, not a warning', async () => {
    const tab = openTab(memoryOf())
    await tab.checkNow()
    await publish('0.1.1', 'console.log("tincan 0.1.1")\n', true)
    await tab.checkNow()
    expect(tab.current.alert).toEqual({ kind: 'update', version: '0.1.1' })
  })

  it('remember the accepted client: a later visit to a changed, unsigned client warns until the person accepts it', async () => {
    const browser = memoryOf()
    const firstVisit = openTab(browser)
    await firstVisit.checkNow()
    expect(firstVisit.current.running?.signed).toBe(true)
    const accepted = browser.value?.bundleHash

    await publish('0.1.0', 'console.log("rebuilt by the operator")\n', false)
    const secondVisit = openTab(browser)
    await secondVisit.checkNow()
    expect(secondVisit.current.alert).toMatchObject({ kind: 'warning', cause: 'changed-since-last-visit' })
    expect(browser.value?.bundleHash).toBe(accepted)

    secondVisit.acknowledge()
    expect(secondVisit.current.alert).toEqual({ kind: 'none' })
    const thirdVisit = openTab(browser)
    await thirdVisit.checkNow()
    expect(thirdVisit.current.alert).toEqual({ kind: 'none' })
    expect(thirdVisit.current.running?.signed).toBe(false)
  })
})
