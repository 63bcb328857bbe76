import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumOrSkip } from './browser.ts'
import { openBrowser, Person, pngImage, sha256, startAppServer, type E2eServer } from './app.ts'

const chromiumPath = chromiumOrSkip()
const suffix = randomBytes(3).toString('hex')
const mib = 1024 * 1024

/** Writes `bytes` to a file in `dir` and returns its path and SHA-256. */
function fixture(dir: string, name: string, bytes: Uint8Array): { path: string; sha256: string } {
  const path = join(dir, name)
  writeFileSync(path, bytes)
  return { path, sha256: sha256(bytes) }
}

/** A 640×400 sunset: a sky from orange to violet with a pale sun, so the screenshot shows a picture. */
function sunset(): Buffer {
  const [w, h] = [640, 400]
  return pngImage(w, h, (x, y) => {
    const sun = Math.hypot(x - 420, y - 250) < 60
    if (sun) return [255, 236, 170]
    const t = y / h
    return [Math.round(255 - 120 * t), Math.round(150 - 110 * t + (x / w) * 20), Math.round(90 + 110 * t)]
  })
}

// Issue 5 in the browser, through the UI only: an image shown inline, a file accepted and saved
// with the same bytes, and a transfer that survives the receiver reloading its tab.
// Skipped only when Chromium is missing and TINCAN_REQUIRE_SERVICES is not set (chromiumOrSkip says so).
describe.skipIf(chromiumPath === undefined)('files and images between two people in Chromium', () => {
  let server: E2eServer
  let browser: Browser
  let alice: Person
  let bob: Person
  let dir: string
  /** What the pages' CSP refused: the receive worker, thumbnails (data:) and images (blob:) must pass. */
  const violations: string[] = []

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tincan-e2e-files-'))
    server = await startAppServer()
    browser = await openBrowser(chromiumPath ?? '')
    alice = await Person.arrive(browser, server.url, `alice_${suffix}`)
    bob = await Person.arrive(browser, server.url, `bob_${suffix}`)
    for (const p of [alice, bob])
      p.page.on('console', (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(`${p.name}: ${m.text()}`)
      })
  })

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  // expect.poll, which the helpers wait with, only runs inside a test.
  it('registers Alice and Bob as friends, each with the other’s chat open', async () => {
    await alice.register('a long and careful passphrase')
    await bob.register('bob has his own passphrase')
    await alice.befriend(bob)
    await alice.openChat(bob.name)
    await bob.openChat(alice.name)
  })

  it('shows an image Alice picks inline in Bob’s chat, accepted without asking, and full size on click', async () => {
    await alice.send('The sunset from the ferry 🌅')
    const image = fixture(dir, 'sunset.png', sunset())
    await alice.sendFiles(image.path)

    await bob.expectFileState('sunset.png', 'done')
    const inline = bob.fileCard('sunset.png').getByTestId('inline-image')
    await expect.poll(() => inline.getAttribute('data-source'), { timeout: 15_000 }).toBe('full')
    await expect
      .poll(() => inline.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), {
        timeout: 15_000,
      })
      .toBe(640)
    expect(await inline.isVisible()).toBe(true)
    await alice.expectFileState('sunset.png', 'done')

    await bob.fileCard('sunset.png').getByTestId('inline-image-button').click()
    const lightbox = bob.byTestId('lightbox')
    await expect.poll(() => lightbox.isVisible()).toBe(true)
    await expect
      .poll(() =>
        lightbox.getByTestId('lightbox-image').evaluate((img: HTMLImageElement) => img.naturalWidth),
      )
      .toBe(640)
    await bob.page.keyboard.press('Escape')
    await expect.poll(() => lightbox.isVisible()).toBe(false)
  })

  it('carries a 20 MiB file Bob accepts, and saves exactly the bytes Alice sent', async () => {
    const file = fixture(dir, 'field-notes.bin', randomBytes(20 * mib))
    await alice.sendFiles(file.path)

    await bob.expectFileState('field-notes.bin', 'offered')
    await alice.expectFileState('field-notes.bin', 'offered')
    await bob.fileCard('field-notes.bin').getByTestId('file-accept').click()
    await bob.expectFileState('field-notes.bin', 'done', 90_000)
    await alice.expectFileState('field-notes.bin', 'done')

    const saved = await bob.saveFile('field-notes.bin')
    expect(saved.suggestedName).toBe('field-notes.bin')
    expect(saved.sha256).toBe(file.sha256)
    await bob.shot('08-files')
  })

  it('resumes a transfer after Bob reloads his tab in the middle of it, and the saved file is whole', async () => {
    const size = 80 * mib
    const file = fixture(dir, 'holiday-video.mp4', randomBytes(size))
    await alice.sendFiles(file.path)
    await bob.expectFileState('holiday-video.mp4', 'offered', 90_000)
    await bob.fileCard('holiday-video.mp4').getByTestId('file-accept').click()

    const card = bob.fileCard('holiday-video.mp4')
    const bytesDone = async () => Number(await card.getAttribute('data-bytes-done'))
    await expect.poll(bytesDone, { timeout: 90_000, interval: 50 }).toBeGreaterThan(size * 0.05)
    const before = await bytesDone()
    await bob.shot('09-file-progress')
    expect(await card.getAttribute('data-state')).toBe('transferring')
    expect(before).toBeLessThan(size)

    await bob.reload()
    await bob.openChat(alice.name)
    await bob.expectFileState('holiday-video.mp4', 'done', 120_000)
    await alice.expectFileState('holiday-video.mp4', 'done')

    // After the reload the page received only what was missing: the rest came from storage.
    const wireBytes = Number(await bob.fileCard('holiday-video.mp4').getAttribute('data-wire-bytes'))
    expect(wireBytes).toBeGreaterThan(0)
    expect(wireBytes).toBeLessThan(size)

    const saved = await bob.saveFile('holiday-video.mp4')
    expect(saved.sha256).toBe(file.sha256)
  })

  it('lets Bob cancel a transfer while it moves, and Alice sees it cancelled', async () => {
    const file = fixture(dir, 'big-draft.bin', randomBytes(40 * mib))
    await alice.sendFiles(file.path)
    await bob.expectFileState('big-draft.bin', 'offered')
    await bob.fileCard('big-draft.bin').getByTestId('file-accept').click()
    await expect
      .poll(async () => Number(await bob.fileCard('big-draft.bin').getAttribute('data-bytes-done')), {
        timeout: 60_000,
        interval: 50,
      })
      .toBeGreaterThan(0)
    await bob.fileCard('big-draft.bin').getByTestId('file-cancel').click()
    await bob.expectFileState('big-draft.bin', 'cancelled')
    await alice.expectFileState('big-draft.bin', 'cancelled')
    expect(await bob.fileCard('big-draft.bin').getByTestId('file-save').count()).toBe(0)
  })

  it('sends a file dropped on the chat, its hostile name shown as text, and an image pasted into the composer', async () => {
    const hostileName = '<img src=x onerror="window.__pwned=1">packing-list.txt'
    const dropped = await alice.page.evaluateHandle((name) => {
      const dt = new DataTransfer()
      dt.items.add(new File(['packing list\n- tent\n- stove\n'], name, { type: 'text/plain' }))
      return dt
    }, hostileName)
    const pane = alice.byTestId('chat-pane')
    await pane.dispatchEvent('dragenter', { dataTransfer: dropped })
    await expect.poll(() => alice.byTestId('drop-overlay').isVisible()).toBe(true)
    await pane.dispatchEvent('drop', { dataTransfer: dropped })
    await expect.poll(() => alice.byTestId('drop-overlay').count()).toBe(0)
    await bob.expectFileState(hostileName, 'offered')
    expect(await bob.fileCard(hostileName).getByTestId('file-name').textContent()).toBe(hostileName)
    expect(await bob.fileCard(hostileName).locator('img').count()).toBe(0)
    expect(await bob.page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined()

    const png = [...pngImage(200, 120, (x) => [x, 120, 200])]
    await alice.byTestId('composer-input').evaluate((el, bytes) => {
      const dt = new DataTransfer()
      dt.items.add(new File([new Uint8Array(bytes)], 'pasted.png', { type: 'image/png' }))
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }))
    }, png)
    await bob.expectFileState('pasted.png', 'done')
    const inline = bob.fileCard('pasted.png').getByTestId('inline-image')
    await expect
      .poll(() => inline.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), {
        timeout: 15_000,
      })
      .toBe(200)
    expect(await alice.byTestId('composer-input').inputValue()).toBe('')
  })

  it('asks Bob about images once he sets the limit to 0 MB, showing the thumbnail until he decides', async () => {
    await bob.byTestId('nav-settings').click()
    const limit = bob.byTestId('settings-auto-accept-images')
    await expect.poll(() => limit.inputValue()).toBe('10')
    await limit.fill('0')
    await limit.blur()
    await bob.shot('10-settings-files')
    await bob.openChat(alice.name)

    const image = fixture(
      dir,
      'harbour.png',
      pngImage(480, 360, (x, y) => [20, (x * 255) / 480, (y * 255) / 360]),
    )
    await alice.sendFiles(image.path)
    await bob.expectFileState('harbour.png', 'offered')
    const inline = bob.fileCard('harbour.png').getByTestId('inline-image')
    expect(await inline.getAttribute('data-source')).toBe('thumbnail')
    await expect
      .poll(() => inline.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth))
      .toBeGreaterThan(0)

    await bob.fileCard('harbour.png').getByTestId('file-decline').click()
    await bob.expectFileState('harbour.png', 'declined')
    await alice.expectFileState('harbour.png', 'declined')
    expect(await bob.fileCard('harbour.png').getByTestId('file-save').count()).toBe(0)
  })

  it('did all of it under the page’s CSP, with no violation', () => {
    expect(violations).toEqual([])
  })
})
