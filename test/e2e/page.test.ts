import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp, type App } from '../../signaling/app.ts'
import { loadConfig } from '../../signaling/config.ts'
import { openStorage } from '../../signaling/storage/open.ts'
import { chromiumOrSkip, launchChromium } from './browser.ts'

const chromiumPath = chromiumOrSkip()

// Skipped only when Chromium is missing and TINCAN_REQUIRE_SERVICES is not set (chromiumOrSkip says so).
describe.skipIf(chromiumPath === undefined)('the served web client in Chromium', () => {
  let server: App
  let browser: Browser
  let baseUrl: string
  let dataDir: string

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tincan-e2e-'))
    const config = loadConfig({ PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'silent' })
    server = await buildApp(config, await openStorage(config))
    await server.app.listen({ host: '127.0.0.1', port: 0 })
    const address = server.app.server.address()
    baseUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
    browser = await launchChromium(chromiumPath ?? '')
  })

  afterAll(async () => {
    await browser.close()
    await server.shutdown(0)
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('loads the app under the strict CSP, derives keys in a worker and connects, with no violation', async () => {
    const page = await browser.newPage()
    const violations: string[] = []
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text())
    })
    const response = await page.goto(baseUrl)
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self' 'wasm-unsafe-eval'")
    // The sign-in form appears only after libsodium's WebAssembly has loaded.
    await page.getByTestId('auth-screen').waitFor()
    await expect.poll(() => page.title()).toBe('Tincan')
    await page.getByTestId('auth-mode-register').click()
    await page.getByTestId('auth-username').fill('csp-check')
    await page.getByTestId('auth-password').fill('a long enough password')
    await page.getByTestId('auth-confirm').fill('a long enough password')
    await page.getByTestId('auth-submit').click()
    await page.getByTestId('app-shell').waitFor({ timeout: 30_000 })
    await expect
      .poll(() => page.getByTestId('connection-status').getAttribute('data-state'), { timeout: 15_000 })
      .toBe('online')
    expect(violations).toEqual([])
    await page.close()
  })

  it('refuses inline script on the served page', async () => {
    const page = await browser.newPage()
    await page.goto(baseUrl)
    const blocked = await page.evaluate(
      () =>
        new Promise<boolean>((resolve) => {
          document.addEventListener('securitypolicyviolation', () => resolve(true), { once: true })
          const s = document.createElement('script')
          s.textContent = 'window.__inlineRan = true'
          document.body.append(s)
          setTimeout(() => resolve(false), 1000)
        }),
    )
    expect(blocked).toBe(true)
    expect(
      await page.evaluate(() => (window as unknown as { __inlineRan?: boolean }).__inlineRan),
    ).toBeUndefined()
    await page.close()
  })
})
