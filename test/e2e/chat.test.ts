import { randomBytes } from 'node:crypto'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumOrSkip } from './browser.ts'
import { openBrowser, Person, startAppServer, type E2eServer } from './app.ts'

const chromiumPath = chromiumOrSkip()
const suffix = randomBytes(3).toString('hex')

// Skipped only when Chromium is missing and TINCAN_REQUIRE_SERVICES is not set (chromiumOrSkip says so).
describe.skipIf(chromiumPath === undefined)('two people chat in Chromium, through the UI only', () => {
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

  it('registers both people', async () => {
    await alice.shot('01-sign-in')
    await alice.register('a long and careful passphrase')
    await bob.register('bob has his own passphrase')
    await alice.shot('02-empty-home')
  })

  it('lets Alice find Bob and send a request, and Bob accept it; both see each other online', async () => {
    await alice.byTestId('find-friends').or(alice.byTestId('nav-friends')).first().click()
    await alice.byTestId('friend-search-input').fill(bob.name.slice(0, 6))
    const result = alice.page.locator(`[data-testid="friend-search-result"][data-username="${bob.name}"]`)
    await expect.poll(() => result.count(), { timeout: 10_000 }).toBe(1)
    await alice.shot('03-search')
    await result.getByTestId('friend-add-button').click()

    await expect.poll(() => bob.byTestId('requests-badge').textContent(), { timeout: 15_000 }).toBe('1')
    await bob.byTestId('nav-friends').click()
    const request = bob.page.locator(`[data-testid="incoming-request"][data-username="${alice.name}"]`)
    await expect.poll(() => request.count()).toBe(1)
    await bob.shot('04-incoming-request')
    await request.getByTestId('request-accept').click()

    for (const [me, them] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      await expect
        .poll(() => me.friendItem(them.name).getByTestId('friend-online').getAttribute('data-online'), {
          timeout: 20_000,
        })
        .toBe('true')
    }
  })

  it('carries text with emoji from Alice to Bob, and Bob’s reply back', async () => {
    await alice.openChat(bob.name)
    await alice.send('Hello Bob! 你好 🎉👋')
    await bob.openChat(alice.name)
    await bob.expectMessage('Hello Bob! 你好 🎉👋')
    await bob.send('Hi Alice 😀 got it')
    await alice.expectMessage('Hi Alice 😀 got it')
    await expect
      .poll(
        () =>
          alice.page
            .locator('[data-testid="message"][data-direction="out"]')
            .last()
            .getAttribute('data-state'),
        { timeout: 15_000 },
      )
      .toMatch(/delivered|read/)
    await alice.shot('05-chat')
    await bob.shot('06-chat-bob')
  })

  it('keeps the history in both browsers across a reload', async () => {
    for (const p of [alice, bob]) {
      await p.page.reload()
      await expect.poll(() => p.byTestId('current-user').textContent(), { timeout: 30_000 }).toContain(p.name)
    }
    await alice.openChat(bob.name)
    await bob.openChat(alice.name)
    await alice.expectMessage('Hello Bob! 你好 🎉👋', 10_000)
    await alice.expectMessage('Hi Alice 😀 got it', 10_000)
    await bob.expectMessage('Hello Bob! 你好 🎉👋', 10_000)
    await bob.expectMessage('Hi Alice 😀 got it', 10_000)
  })

  it('delivers what Bob writes while Alice’s page is closed when she opens it again', async () => {
    await alice.page.close()
    await expect
      .poll(() => bob.friendItem(alice.name).getByTestId('friend-online').getAttribute('data-online'), {
        timeout: 20_000,
      })
      .toBe('false')
    const offline = ['Are you there?', 'I will keep writing', '三条消息 ✅']
    for (const text of offline) await bob.send(text)
    await bob.expectMessage('三条消息 ✅')
    await alice.open()
    await expect
      .poll(() => alice.byTestId('current-user').textContent(), { timeout: 30_000 })
      .toContain(alice.name)
    await alice.openChat(bob.name)
    for (const text of offline) await alice.expectMessage(text, 40_000)
    const texts = await alice.messageTexts()
    expect(texts.slice(-3)).toEqual(offline)
  })

  it('shows the same safety number on both sides', async () => {
    const digits: string[] = []
    for (const [me, them] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      await me.openChat(them.name)
      await me.byTestId('chat-safety-number').click()
      await expect.poll(() => me.byTestId('safety-digit-group').count()).toBe(12)
      digits.push((await me.byTestId('safety-digit-group').allTextContents()).join(' '))
    }
    await alice.shot('07-safety-number')
    expect(digits[0]).toMatch(/^(\d{5} ){11}\d{5}$/)
    expect(digits[0]).toBe(digits[1])
  })
})
