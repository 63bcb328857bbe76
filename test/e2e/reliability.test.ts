import { randomBytes } from 'node:crypto'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumOrSkip } from './browser.ts'
import { openBrowser, Person, startAppServer, type E2eServer } from './app.ts'

const chromiumPath = chromiumOrSkip()
const suffix = randomBytes(3).toString('hex')

/** Texts a hostile friend might send: markup, script, bidi overrides, zero-width characters. */
const hostile = [
  '<img src=x onerror="window.__pwned=1">',
  '<script>window.__pwned=2</script>',
  '"><svg onload=window.__pwned=3>',
  '[click](javascript:window.__pwned=4) javascript:window.__pwned=5',
  'invoice\u202Egnp.exe says \u2066hi\u2069 and \u200Bzero\u200Dwidth\uFEFF end',
  '{{7*7}} ${7*7} <!-- comment --> &lt;b&gt;',
]

// Issue 9 in the browser: a reload with a non-empty outbox, and hostile text shown inert.
// Skipped only when Chromium is missing and TINCAN_REQUIRE_SERVICES is not set (chromiumOrSkip says so).
describe.skipIf(chromiumPath === undefined)('faults and hostile text in Chromium', () => {
  let server: E2eServer
  let browser: Browser
  let alice: Person
  let bob: Person

  beforeAll(async () => {
    server = await startAppServer()
    browser = await openBrowser(chromiumPath ?? '')
    alice = await Person.arrive(browser, server.url, `alice_${suffix}`)
    bob = await Person.arrive(browser, server.url, `bob_${suffix}`)
  })

  afterAll(async () => {
    await browser.close()
    await server.stop()
  })

  it('registers two friends', async () => {
    await alice.register('a long and careful passphrase')
    await bob.register('bob has his own passphrase')
    await alice.befriend(bob)
  })

  it('sends what was in the outbox when the tab is reloaded before the friend comes back', async () => {
    await bob.page.close()
    await alice.expectOnline(bob.name, false)
    await alice.openChat(bob.name)
    const queued = ['written while Bob is away', 'still in the outbox 📮', '重新加载之后发送']
    for (const text of queued) await alice.send(text)
    const outgoing = alice.page.locator('[data-testid="message"][data-direction="out"]')
    await expect.poll(() => outgoing.count()).toBe(3)
    expect(await outgoing.evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))).toEqual([
      'queued',
      'queued',
      'queued',
    ])

    await alice.reload()
    await alice.openChat(bob.name)
    for (const text of queued) await alice.expectMessage(text, 10_000)

    await bob.open()
    await expect
      .poll(() => bob.byTestId('current-user').textContent(), { timeout: 30_000 })
      .toContain(bob.name)
    await bob.openChat(alice.name)
    for (const text of queued) await bob.expectMessage(text, 40_000)
    expect(await bob.messageTexts()).toEqual(queued)
    await expect
      .poll(
        async () =>
          (await outgoing.evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))).every(
            (s) => s === 'delivered' || s === 'read',
          ),
        { timeout: 20_000 },
      )
      .toBe(true)
  })

  it('shows hostile message text exactly as typed, as text, without running or rendering any of it', async () => {
    await alice.openChat(bob.name)
    await bob.openChat(alice.name)
    for (const text of hostile) await alice.send(text)
    for (const text of hostile) await bob.expectMessage(text)

    for (const p of [alice, bob]) {
      const texts = await p.messageTexts()
      for (const text of hostile) expect(texts).toContain(text)
      const list = p.page.getByTestId('chat-pane')
      // Nothing from the messages became an element, and no handler ran.
      expect(await list.locator('img[src="x"], script, svg[onload], [onerror]').count()).toBe(0)
      expect(await p.page.evaluate(() => (window as { __pwned?: unknown }).__pwned)).toBeUndefined()
      // No javascript: link was made; only http(s) text becomes a link.
      const hrefs = await list
        .locator('[data-testid="message-text"] a')
        .evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''))
      expect(hrefs.filter((h) => !/^https?:/.test(h))).toEqual([])
      // Each message's text is isolated, so a right-to-left override cannot reorder what follows it.
      const bidi = await p.page
        .getByTestId('message-text')
        .evaluateAll((els) => els.map((e) => getComputedStyle(e).unicodeBidi))
      expect(new Set(bidi)).toEqual(new Set(['isolate']))
    }
    await bob.shot('hostile-text')
  })

  it('keeps the longest allowed message inside its bubble, and cuts a 100,000-character paste to that length, as text', async () => {
    await alice.openChat(bob.name)
    const longest = 'W'.repeat(16_384)
    await alice.send(longest)
    await bob.expectMessage(longest)
    const width = await bob.page
      .getByTestId('message-text')
      .last()
      .evaluate((e) => ({
        text: e.getBoundingClientRect().right,
        page: document.documentElement.clientWidth,
      }))
    expect(width.text).toBeLessThanOrEqual(width.page)

    // A 100,000-character paste of markup: the composer keeps the first 16,384 characters (the
    // protocol's limit), and they arrive as text.
    const huge = '<b>x</b>'.repeat(12_500)
    await alice.byTestId('composer-input').fill(huge)
    const kept = await alice.byTestId('composer-input').inputValue()
    expect(kept).toBe(huge.slice(0, 16_384))
    await alice.byTestId('composer-input').press('Enter')
    await bob.expectMessage(kept)
    expect(await bob.page.getByTestId('chat-pane').locator('b').count()).toBe(0)
  })

  it('refuses hostile usernames at registration with a clear message, rendering none of it', async () => {
    const mallory = await Person.arrive(browser, server.url, `mallory_${suffix}`)
    for (const name of [
      '<img src=x onerror=window.__pwned=6>',
      'ad\u202Emin',
      'zero\u200Bwidth',
      '<'.repeat(100_000),
    ]) {
      await mallory.byTestId('auth-mode-register').click()
      await mallory.byTestId('auth-username').fill(name)
      expect((await mallory.byTestId('auth-username').inputValue()).length).toBeLessThanOrEqual(32)
      await mallory.byTestId('auth-password').fill('a long and careful passphrase')
      await mallory.byTestId('auth-confirm').fill('a long and careful passphrase')
      await mallory.byTestId('auth-submit').click()
      await expect.poll(() => mallory.byTestId('auth-error').count(), { timeout: 10_000 }).toBe(1)
      expect(await mallory.page.locator('img[src="x"]').count()).toBe(0)
      expect(await mallory.byTestId('current-user').count()).toBe(0)
    }
    expect(await mallory.page.evaluate(() => (window as { __pwned?: unknown }).__pwned)).toBeUndefined()
    await mallory.context.close()
  })
})
