import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Browser, Download, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumOrSkip } from './browser.ts'
import { openBrowser, Person, pngImage, startAppServer, type E2eServer } from './app.ts'

const chromiumPath = chromiumOrSkip()
const suffix = randomBytes(3).toString('hex')
const docsImages = resolve(import.meta.dirname, '../../docs/images')

const alicePassword = 'a long and careful passphrase'
const backupPassphrase = 'kettle orchard violin 42 lanterns'
const oldNews = 'The key to the old lighthouse is under the blue mat'
const question = 'Are we still on for the picnic on Saturday?'
const reply = 'Yes! I will bring the lemonade'
const edited = 'Yes! I will bring the lemonade and a blanket'
const mistake = 'This was meant for someone else'
const fleeting = 'This one is gone within the hour'
const fillerCount = 55
const filler = (i: number) => `Filler line ${i} about nothing much`

/** A 360×240 meadow under a blue sky, so the export's screenshot shows a picture. */
function meadow(): Buffer {
  return pngImage(360, 240, (x, y) =>
    y < 150 ? [110 + Math.round(y / 3), 170 + Math.round(y / 4), 235] : [60 + (x % 20), 150 + (y % 30), 70],
  )
}

/** Opens the message's action menu (hover shows its button) and picks an action in it. */
async function messageAction(
  p: Person,
  text: string,
  action: string,
  emoji?: string,
  shot?: string,
): Promise<void> {
  const message = p.message(text)
  await message.hover()
  await message.getByTestId('message-menu').click()
  if (shot !== undefined) await p.shot(shot)
  const item =
    emoji === undefined
      ? message.getByTestId(action)
      : message.locator(`[data-testid="${action}"][data-emoji="${emoji}"]`)
  await item.click()
}

/** Scrolls the open chat up until its first message is loaded, so every message is on the page. */
async function loadWholeChat(p: Person): Promise<void> {
  await expect
    .poll(
      async () => {
        await p.byTestId('message-list').evaluate((el) => {
          el.scrollTop = 0
        })
        return p.byTestId('chat-beginning').count()
      },
      { timeout: 15_000 },
    )
    .toBe(1)
}

async function takeDownload(page: Page, click: () => Promise<void>): Promise<Download> {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), click()])
  return download
}

// Issue 7 in the browser, through the UI only: message actions reach the friend and survive a
// reload; search finds an older message and opens the chat at it; an HTML export opens offline
// with its image; a backup restores the same history into a browser with no data.
describe.skipIf(chromiumPath === undefined)('your data and message actions in Chromium', () => {
  let server: E2eServer
  let browser: Browser
  let alice: Person
  let bob: Person
  let dir: string
  /** What Alice's chat with Bob shows before her data is cleared. */
  let aliceTexts: string[] = []

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tincan-e2e-data-'))
    mkdirSync(docsImages, { recursive: true })
    server = await startAppServer()
    browser = await openBrowser(chromiumPath ?? '')
    alice = await Person.arrive(browser, server.url, `alice_${suffix}`)
    bob = await Person.arrive(browser, server.url, `bob_${suffix}`)
  })

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  // expect.poll, which the helpers wait with, only runs inside a test.
  it('registers Alice and Bob as friends, each with the other’s chat open', async () => {
    await alice.register(alicePassword)
    await bob.register('bob has his own passphrase')
    await alice.befriend(bob)
    await alice.openChat(bob.name)
    await bob.openChat(alice.name)
  })

  it('finds an older message for Bob with the word marked, and opens the chat scrolled to it', async () => {
    await bob.send(oldNews)
    for (let i = 0; i < fillerCount; i++) await alice.send(filler(i))
    await bob.expectMessage(filler(fillerCount - 1))

    await bob.byTestId('nav-settings').click()
    const { hit, messageId } = await bob.searchOne('Lighthouse')
    expect(await hit.getByTestId('search-mark').allTextContents()).toEqual(['lighthouse'])
    await bob.shot('10-search')

    await hit.click()
    await bob.expectJumpedTo(messageId)
    // Opened around an old message: the newest ones come back on request.
    await bob.byTestId('jump-latest').click()
    await expect.poll(() => bob.byTestId('jump-latest').count()).toBe(0)
    await bob.expectMessage(filler(fillerCount - 1))
    await bob.byTestId('search-clear').click()
  })

  it('shows Bob Alice’s reply with its quote, her reaction, her edit and her deletion, also after he reloads', async () => {
    await bob.send(question)
    await alice.expectMessage(question)

    // Escape leaves reply mode without sending anything.
    await messageAction(alice, question, 'action-reply')
    await expect.poll(() => alice.byTestId('reply-bar').count()).toBe(1)
    await alice.byTestId('composer-input').press('Escape')
    await expect.poll(() => alice.byTestId('reply-bar').count()).toBe(0)

    await messageAction(alice, question, 'action-reply')
    await expect.poll(() => alice.byTestId('reply-bar').textContent()).toContain(question)
    await alice.shot('12-reply-bar')
    await alice.send(reply)
    await expect.poll(() => alice.byTestId('reply-bar').count()).toBe(0)
    await bob.expectMessage(reply)
    await expect.poll(() => bob.message(reply).getByTestId('quote').textContent()).toContain(question)

    await messageAction(alice, question, 'action-react', '👍', '11-message-menu')
    const bobSees = bob.message(question).locator('[data-testid="reaction"][data-emoji="👍"]')
    await expect.poll(() => bobSees.count(), { timeout: 15_000 }).toBe(1)
    expect(await bobSees.getAttribute('data-mine')).toBe('false')
    const aliceSees = alice.message(question).locator('[data-testid="reaction"][data-emoji="👍"]')
    expect(await aliceSees.getAttribute('data-mine')).toBe('true')

    await messageAction(alice, reply, 'action-edit')
    await expect.poll(() => alice.byTestId('composer-input').inputValue()).toBe(reply)
    await alice.send(edited)
    await bob.expectMessage(edited)
    await expect.poll(() => bob.message(edited).getByTestId('message-edited').count()).toBe(1)
    expect(await bob.messageTexts()).not.toContain(reply)

    await alice.send(mistake)
    await bob.expectMessage(mistake)
    const mistakeId = await alice.message(mistake).getAttribute('data-id')
    await messageAction(alice, mistake, 'action-delete-everyone')
    await alice.byTestId('confirm-delete-confirm').click()
    const bobMistake = bob.page.locator(`[data-testid="message"][data-id="${mistakeId}"]`)
    await expect.poll(() => bobMistake.getByTestId('message-deleted').count(), { timeout: 15_000 }).toBe(1)
    expect(await bob.messageTexts()).not.toContain(mistake)
    await bob.shot('13-message-actions')

    await bob.reload()
    await bob.openChat(alice.name)
    await bob.expectMessage(edited)
    expect(await bob.message(edited).getByTestId('quote').textContent()).toContain(question)
    expect(await bob.message(edited).getByTestId('message-edited').count()).toBe(1)
    await expect.poll(() => bobSees.count()).toBe(1)
    expect(await bobMistake.getByTestId('message-deleted').count()).toBe(1)
    expect(await bob.messageTexts()).not.toContain(mistake)

    // Copy puts the text on the clipboard; delete for me removes Bob's copy only.
    await bob.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url })
    await messageAction(bob, edited, 'action-copy')
    await expect.poll(() => bob.page.evaluate(() => navigator.clipboard.readText())).toBe(edited)
    await messageAction(bob, filler(54), 'action-delete-me')
    await bob.byTestId('confirm-delete-confirm').click()
    await expect.poll(() => bob.messageTexts()).not.toContain(filler(54))
    expect(await alice.messageTexts()).toContain(filler(54))
  })

  it('lets Alice turn on disappearing messages for both, with a line in each chat and a timer on new messages', async () => {
    await alice.byTestId('chat-menu').click()
    await alice.page.locator('[data-testid="chat-timer-option"][data-seconds="3600"]').click()
    for (const [p, line] of [
      [alice, 'You set disappearing messages to 1 hour'],
      [bob, `${alice.name} set disappearing messages to 1 hour`],
    ] as const) {
      await expect
        .poll(() => p.byTestId('timer-line').last().textContent(), { timeout: 15_000 })
        .toContain(line)
      await expect.poll(() => p.byTestId('chat-timer-indicator').getAttribute('data-seconds')).toBe('3600')
    }
    await alice.send(fleeting)
    await bob.expectMessage(fleeting)
    expect(await bob.message(fleeting).getByTestId('message-expires').count()).toBe(1)
    await bob.shot('14-disappearing')

    await bob.byTestId('chat-menu').click()
    await bob.page.locator('[data-testid="chat-timer-option"][data-seconds="0"]').click()
    await expect
      .poll(() => alice.byTestId('timer-line').last().textContent(), { timeout: 15_000 })
      .toContain(`${bob.name} turned off disappearing messages`)
    await expect.poll(() => alice.byTestId('chat-timer-indicator').count()).toBe(0)
  })

  it('keeps Bob’s choice to send no read receipts and no typing indicators after a reload', async () => {
    await bob.byTestId('nav-settings').click()
    await bob.byTestId('setting-read-receipts').uncheck()
    await bob.byTestId('setting-typing').uncheck()
    await bob.reload()
    await bob.byTestId('nav-settings').click()
    expect(await bob.byTestId('setting-read-receipts').isChecked()).toBe(false)
    expect(await bob.byTestId('setting-typing').isChecked()).toBe(false)
  })

  it('exports Alice’s chat as an HTML file that shows the messages and the picture with the network off', async () => {
    const picture = join(dir, 'picnic-spot.png')
    writeFileSync(picture, meadow())
    await alice.sendFiles(picture)
    await alice.expectFileState('picnic-spot.png', 'done')
    await loadWholeChat(alice)
    aliceTexts = await alice.messageTexts()
    expect(aliceTexts).toHaveLength(fillerCount + 4)

    await alice.byTestId('nav-settings').click()
    await alice.byTestId('export-scope').selectOption(`direct:${bob.name}`)
    const download = await takeDownload(alice.page, () => alice.byTestId('export-html').click())
    expect(download.suggestedFilename()).toMatch(/\.html$/)
    const file = join(dir, 'export.html')
    await download.saveAs(file)

    const offline = await browser.newContext({ offline: true, viewport: { width: 900, height: 900 } })
    const requests: string[] = []
    await offline.route('**/*', (route) => {
      const url = route.request().url()
      if (url.startsWith('file:')) return route.continue()
      requests.push(url)
      return route.abort()
    })
    const page = await offline.newPage()
    await page.goto(pathToFileURL(file).href)
    for (const text of [oldNews, filler(0), question, edited])
      expect(await page.getByText(text, { exact: true }).first().isVisible()).toBe(true)
    const image = page.locator('img').first()
    await image.scrollIntoViewIfNeeded()
    await expect
      .poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth))
      .toBe(360)
    expect(requests).toEqual([])
    await page.screenshot({ path: join(docsImages, 'export.png') })
    await offline.close()
  })

  it('restores Alice’s history from her backup into a browser with no data, after refusing a wrong passphrase', async () => {
    await alice.byTestId('backup-passphrase').fill(backupPassphrase)
    await alice.byTestId('backup-passphrase-confirm').fill(backupPassphrase)
    expect(await alice.byTestId('backup-strength').getAttribute('data-strength')).toBe('strong')
    await alice.byTestId('data-settings').scrollIntoViewIfNeeded()
    await alice.shot('15-your-data')
    const download = await takeDownload(alice.page, () => alice.byTestId('backup-create').click())
    const backup = join(dir, 'alice.tincan-backup')
    await download.saveAs(backup)
    await alice.byTestId('backup-done').waitFor()

    // A fresh browser context has no IndexedDB, no localStorage and no session: the site's data is gone.
    await alice.context.close()
    const again = await Person.arrive(browser, server.url, alice.name)
    await again.login(alicePassword)
    await again.openChat(bob.name)
    await again.byTestId('chat-beginning').waitFor()
    expect(await again.messageTexts()).toEqual([])

    await again.byTestId('nav-settings').click()
    await again.byTestId('backup-restore-input').setInputFiles(backup)
    await again.byTestId('restore-passphrase').fill('not the right passphrase')
    await again.byTestId('restore-submit').click()
    await expect
      .poll(() => again.byTestId('restore-error').textContent(), { timeout: 30_000 })
      .toContain('Wrong passphrase')
    expect(await again.byTestId('restore-summary').count()).toBe(0)
    await again.shot('16-restore-wrong-passphrase')
    await again.openChat(bob.name)
    await again.byTestId('chat-beginning').waitFor()
    expect(await again.messageTexts()).toEqual([])

    await again.byTestId('nav-settings').click()
    expect(await again.byTestId('restore-error').count()).toBe(0)
    await again.byTestId('backup-restore-input').setInputFiles(backup)
    await again.byTestId('restore-passphrase').fill(backupPassphrase)
    await again.byTestId('restore-submit').click()
    const summary = again.byTestId('restore-summary')
    await expect.poll(() => summary.count(), { timeout: 60_000 }).toBe(1)
    expect(Number(await again.byTestId('restore-added').getAttribute('data-messages'))).toBeGreaterThan(
      fillerCount,
    )
    expect(await again.byTestId('restore-error').count()).toBe(0)
    await again.shot('17-restore-summary')

    await again.openChat(bob.name)
    await loadWholeChat(again)
    expect(await again.messageTexts()).toEqual(aliceTexts)
    const inline = again.fileCard('picnic-spot.png').getByTestId('inline-image')
    await expect
      .poll(() => inline.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), {
        timeout: 15_000,
      })
      .toBe(360)
    expect(await again.message(edited).getByTestId('quote').textContent()).toContain(question)
  })
})
