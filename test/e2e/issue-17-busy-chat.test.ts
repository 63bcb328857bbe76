import { randomBytes } from 'node:crypto'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumOrSkip } from './browser.ts'
import { openBrowser, Person, startAppServer, type E2eServer } from './app.ts'
import { messageWatch, mostBubbles, shownAt } from './message-watch.ts'

const chromiumPath = chromiumOrSkip()
const suffix = randomBytes(3).toString('hex')

/** Twice what a message list holds (`maxShown` in client/ui/src/lib/state/message-window.svelte.ts). */
const burst = 300
const maxShown = 150
/**
 * Far beyond the 1 s that issue 17 asks for, so that only a regression counts, not a slow
 * machine: before the fix, messages of a burst of 400 showed up to 45 s late.
 */
const lateMs = 10_000
const texts = Array.from({ length: burst }, (_, i) => `Busy line ${i + 1} of ${burst}`)

// Issue 17: a burst typed into the composer, one message after another, with the friend's chat
// open. Every message shows at the friend, in order and none much later than sent; the list
// holds a bounded number of messages however many come, and scrolling pages the older back in.
describe.skipIf(chromiumPath === undefined)('a busy chat in Chromium (issue 17)', () => {
  let server: E2eServer
  let browser: Browser
  let ann: Person
  let ben: Person

  beforeAll(async () => {
    server = await startAppServer()
    browser = await openBrowser(chromiumPath ?? '')
    ann = await Person.arrive(browser, server.url, `ann_${suffix}`)
    ben = await Person.arrive(browser, server.url, `ben_${suffix}`)
  })

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })

  it('registers Ann and Ben as friends, each with the other’s chat open', async () => {
    await ann.register('ann has a long passphrase')
    await ben.register('ben has a long passphrase')
    await ann.befriend(ben)
    await ann.openChat(ben.name)
    await ben.openChat(ann.name)
    await ann.send('Hello, a lot is coming')
    await ben.expectMessage('Hello, a lot is coming')
    for (const p of [ann, ben]) await p.page.evaluate(messageWatch)
  })

  it(`shows Ben all ${burst} messages Ann sends with Enter, in order, none more than ${lateMs / 1000} s late`, async () => {
    const input = ann.byTestId('composer-input')
    const enteredAt: number[] = []
    for (const text of texts) {
      await input.fill(text)
      enteredAt.push(Date.now())
      await input.press('Enter')
    }
    await expect
      .poll(async () => (await shownAt(ben.page, texts)).filter((at) => at === null).length, {
        timeout: 120_000,
        interval: 250,
      })
      .toBe(0)
    const arrived = await shownAt(ben.page, texts)
    const late = arrived.filter((at, i) => (at ?? Infinity) - (enteredAt[i] ?? 0) > lateMs)
    expect(late).toHaveLength(0)
    // In order: the newest stretch of Ben's list is the end of the burst, as Ann typed it.
    const shown = await ben.messageTexts()
    expect(shown.slice(-100)).toEqual(texts.slice(-100))
    expect((await ann.messageTexts()).slice(-100)).toEqual(texts.slice(-100))
  })

  it('keeps a bounded number of messages in either page, however many came', async () => {
    expect(await mostBubbles(ben.page)).toBeLessThanOrEqual(maxShown)
    expect(await mostBubbles(ann.page)).toBeLessThanOrEqual(maxShown)
    // The chat list still says what came last, and nothing is unread in the open chat.
    await expect
      .poll(() => ben.friendItem(ann.name).textContent(), { timeout: 10_000 })
      .toContain(texts.at(-1))
    await expect.poll(() => ben.friendItem(ann.name).getByTestId('friend-unread').count()).toBe(0)
  })

  it('pages the burst back in as Ben scrolls up to its start, still bounded, and back down to the newest', async () => {
    const list = ben.byTestId('message-list')
    await expect
      .poll(
        async () => {
          await list.evaluate((el) => {
            el.scrollTop = 0
          })
          return ben.messageTexts()
        },
        { timeout: 60_000 },
      )
      .toContain(texts[0])
    expect(await ben.messageTexts()).not.toContain(texts.at(-1))
    expect(await mostBubbles(ben.page)).toBeLessThanOrEqual(maxShown)
    // What was let go at the newest end comes back on request.
    await ben.byTestId('jump-latest').click()
    await expect.poll(() => ben.messageTexts(), { timeout: 15_000 }).toContain(texts.at(-1))
    await expect.poll(() => ben.byTestId('jump-latest').count()).toBe(0)
  })

  it('holds a message Ann sends while Ben reads further up below, unread, until he comes back down', async () => {
    const list = ben.byTestId('message-list')
    // Up until the list is full, and no further: one more page would let the newest go.
    await expect
      .poll(
        async () => {
          const count = (await ben.messageTexts()).length
          if (count < maxShown)
            await list.evaluate((el) => {
              el.scrollTop = 0
            })
          return count
        },
        { timeout: 30_000, interval: 500 },
      )
      .toBe(maxShown)
    expect(await ben.byTestId('jump-latest').count()).toBe(0)
    await ann.send('One more while you read')
    await expect.poll(() => ben.byTestId('jump-latest').count(), { timeout: 15_000 }).toBe(1)
    expect(await ben.messageTexts()).not.toContain('One more while you read')
    expect(await ben.messageTexts()).toHaveLength(maxShown)
    await expect.poll(() => ben.friendItem(ann.name).getByTestId('friend-unread').textContent()).toBe('1')
    await ben.byTestId('jump-latest').click()
    await ben.expectMessage('One more while you read')
    await expect.poll(() => ben.friendItem(ann.name).getByTestId('friend-unread').count()).toBe(0)
    expect(await mostBubbles(ben.page)).toBeLessThanOrEqual(maxShown)
  })
})
