import { spawnSync } from 'node:child_process'
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ed25519KeyPairFromSeed, initCrypto, randomBytes, toBase64Url } from '../../crypto/index.ts'
import { addSubresourceIntegrity, writeRelease } from '../../scripts/release/client-release.ts'
import { signClientDir } from '../../scripts/release/sign.ts'
import { repoRoot, startServer, type TestServer } from '../helpers/server.ts'
import { Person } from './app.ts'
import { chromiumOrSkip, launchChromium } from './browser.ts'

// Issue 14, F10: a server that changes the JavaScript it serves. The client is built here with
// a test release key (the project's secret key is not in the repository) and an open page
// checking every second instead of every five minutes; it is signed, then served by three
// servers: one left alone, one that appends an implant to the app's script, one that swaps in
// a whole build of its own with a fresh manifest but no release signature.

const chromiumPath = chromiumOrSkip()
const implant =
  ';window.__tincanImplant = true; fetch("/api/collect", { method: "POST", body: "password" })\n'

let root: string
let browser: Browser
const servers: TestServer[] = []

/** The environment of `npm run build`: vitest's NODE_ENV=test would make a development build. */
function productionEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.NODE_ENV
  return env
}

/** The path of the app's main script, as index.html names it. */
function mainScript(dir: string): string {
  const match = /<script type="module" crossorigin src="\/(assets\/[^"]+\.js)"/.exec(
    readFileSync(join(dir, 'index.html'), 'utf8'),
  )
  if (match?.[1] === undefined) throw new Error('index.html names no module script')
  return match[1]
}

async function serve(name: string): Promise<{ dir: string; server: TestServer }> {
  const dir = join(root, name)
  cpSync(join(root, 'built'), dir, { recursive: true })
  const server = await startServer({ env: { CLIENT_DIR: dir } })
  servers.push(server)
  return { dir, server }
}

/** Opens Settings and waits until the page has checked the served app at least `checks` times. */
async function checked(page: Page, checks: number): Promise<void> {
  if ((await page.getByTestId('about-section').count()) === 0) await page.getByTestId('nav-settings').click()
  await expect
    .poll(async () => Number(await page.getByTestId('about-status').getAttribute('data-checks')), {
      timeout: 30_000,
    })
    .toBeGreaterThanOrEqual(checks)
}

const bannerCause = (page: Page) =>
  page
    .getByTestId('release-banner')
    .count()
    .then(async (n) =>
      n === 0 ? 'none' : await page.getByTestId('release-banner').getAttribute('data-cause'),
    )
const implantRan = (page: Page) =>
  page.evaluate(() => (window as unknown as { __tincanImplant?: boolean }).__tincanImplant === true)

describe.skipIf(chromiumPath === undefined)('issue 14 (F10): a server that changes the app it serves', () => {
  let manifestHash: string

  beforeAll(async () => {
    await initCrypto()
    root = mkdtempSync(join(tmpdir(), 'tincan-e2e-release-'))
    const seed = randomBytes(32)
    const publicKey = toBase64Url(ed25519KeyPairFromSeed(seed).publicKey)
    const built = spawnSync(
      process.execPath,
      ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'error', '--outDir', join(root, 'built')],
      {
        cwd: repoRoot,
        env: { ...productionEnv(), TINCAN_RELEASE_PUBLIC_KEY: publicKey, TINCAN_RELEASE_CHECK_MS: '1000' },
        encoding: 'utf8',
      },
    )
    if (built.status !== 0) throw new Error(`vite build failed:\n${built.stderr}`)
    manifestHash = (await signClientDir(join(root, 'built'), { secretSeed: toBase64Url(seed), publicKey }))
      .bundleHash
    browser = await launchChromium(chromiumPath ?? '')
  }, 180_000)

  afterAll(async () => {
    await browser.close()
    for (const s of servers) await s.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('shows no warning while the server keeps serving the signed app, and shows its hash in Settings', async () => {
    const { server } = await serve('left-alone')
    const ann = await Person.arrive(browser, server.baseUrl, 'ann')
    await ann.register('a long enough password')
    await checked(ann.page, 5)
    expect(await bannerCause(ann.page)).toBe('none')
    expect(await ann.byTestId('about-status').getAttribute('data-state')).toBe('signed')
    expect(await ann.byTestId('about-bundle-hash').textContent()).toBe(manifestHash)
    await ann.byTestId('about-section').scrollIntoViewIfNeeded()
    await ann.shot('issue-14-about')
    await ann.context.close()
  })

  it('warns every open page when an implant is appended to the app’s script, and a page opened afterwards refuses to run it', async () => {
    const { dir, server } = await serve('implanted')
    const bob = await Person.arrive(browser, server.baseUrl, 'bob')
    await bob.register('a long enough password')
    const secondTab = await bob.context.newPage()
    await secondTab.goto(server.baseUrl)
    await secondTab.getByTestId('current-user').waitFor({ timeout: 30_000 })
    await checked(bob.page, 1)
    await checked(secondTab, 1)
    expect([await bannerCause(bob.page), await bannerCause(secondTab)]).toEqual(['none', 'none'])

    appendFileSync(join(dir, mainScript(dir)), implant)

    for (const page of [bob.page, secondTab])
      await expect.poll(() => bannerCause(page), { timeout: 30_000 }).toBe('changed-while-open')
    // The open pages still run the app they loaded: the implant is only in what a reload would get.
    expect([await implantRan(bob.page), await implantRan(secondTab)]).toEqual([false, false])
    await bob.shot('issue-14-release-warning')

    // A page opened now is sent the altered script with the old index.html, whose Subresource
    // Integrity hash makes the browser refuse to run it: neither the app nor the implant starts.
    const lateTab = await bob.context.newPage()
    const refusals: string[] = []
    lateTab.on('console', (m) => {
      if (/integrity/i.test(m.text())) refusals.push(m.text())
    })
    await lateTab.goto(server.baseUrl)
    await expect.poll(() => refusals.length, { timeout: 15_000 }).toBeGreaterThan(0)
    expect(await implantRan(lateTab)).toBe(false)
    expect(await lateTab.getByTestId('auth-screen').or(lateTab.getByTestId('app-shell')).count()).toBe(0)
    await bob.context.close()
  })

  it('warns an open page when the server swaps in a build of its own with a fresh manifest but no release signature', async () => {
    const { dir, server } = await serve('rebuilt')
    const carol = await Person.arrive(browser, server.baseUrl, 'carol')
    await carol.register('a long enough password')
    await checked(carol.page, 1)

    // A build of the server's own: the implant, index.html with hashes to match, a fresh
    // release.json, and no signature.
    appendFileSync(join(dir, mainScript(dir)), implant)
    const index = join(dir, 'index.html')
    writeFileSync(index, readFileSync(index, 'utf8').replace(/ integrity="[^"]+"/g, ''))
    addSubresourceIntegrity(dir)
    unlinkSync(join(dir, 'release.sig'))
    await writeRelease(dir, {
      version: '0.1.0',
      commit: undefined,
      publicKey: toBase64Url(randomBytes(32)),
      publishedPath: join(root, 'none.json'),
    })

    await expect.poll(() => bannerCause(carol.page), { timeout: 30_000 }).toBe('changed-while-open')
    expect(await carol.page.getByTestId('release-banner').getAttribute('role')).toBe('alert')
    expect(await implantRan(carol.page)).toBe(false)

    // A page opened now runs the implant; this browser remembers the client it ran before, so
    // the honest code left in that page still warns (a real implant would remove it: see SECURITY.md).
    const lateTab = await carol.context.newPage()
    await lateTab.goto(server.baseUrl)
    await expect.poll(() => bannerCause(lateTab), { timeout: 30_000 }).toBe('changed-since-last-visit')
    expect(await implantRan(lateTab)).toBe(true)
    await carol.context.close()
  })
})
