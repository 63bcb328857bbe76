// Issue 14 in the browser: what a hostile friend sends reaches a real Chromium page, which shows
// it safely. The friend is the project's own client core in Node with changes (frames written by
// hand, a file name rewritten on the wire), over real WebRTC to the page; F5 a reply that
// misquotes the user, F6 messages dated in 2286, F7 a file name with a right-to-left override.
// Also: a paste longer than a message can hold says what was cut.
import { randomBytes } from 'node:crypto'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  directConversationId,
  newMessageId,
  type FileSource,
  type Message,
  type TincanClient,
} from '../../client/core/index.ts'
import { utf8Decode, utf8Encode } from '../../crypto/index.ts'
import type { PeerMessage } from '../../shared/index.ts'
import { nodeClientEnv } from '../helpers/client-env.ts'
import { registerClient } from '../helpers/clients.ts'
import { until } from '../helpers/until.ts'
import { chromiumOrSkip } from './browser.ts'
import { openBrowser, Person, pngImage, startAppServer, type E2eServer } from './app.ts'
import { internals } from '../helpers/internals.ts'

const chromiumPath = chromiumOrSkip()

/** Every character that can turn text around: embeddings, overrides, isolates and marks. */
const bidiControls = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/
/** 1 January 2286. */
const year2286 = Date.UTC(2286, 0, 1)
const disguised = 'invoice\u202Efdp.exe'
const shownName = 'invoice\uFFFDfdp.exe'
/** A picture whose name shows as "holidayexe.png" where overrides work. */
const disguisedImage = 'holiday\u202Egnp.exe'
const shownImage = 'holiday\uFFFDgnp.exe'

// Skipped only when Chromium is missing and TINCAN_REQUIRE_SERVICES is not set (chromiumOrSkip says so).
describe.skipIf(chromiumPath === undefined)('a hostile friend, seen in Chromium (issue 14)', () => {
  let server: E2eServer
  let browser: Browser
  let alice: Person
  let mallory: TincanClient
  let bob: TincanClient

  /** A frame from Mallory's device as she wrote it, inside the real session to Alice. */
  async function fromMallory(frame: PeerMessage): Promise<void> {
    await until('mallory’s connection to alice', () => mallory.isConnected(alice.name))
    expect(await internals(mallory).peers.send(alice.name, utf8Encode(JSON.stringify(frame)))).toBe(true)
  }

  /** Has Alice accept `friend`'s request in the page; both online. */
  async function befriendAlice(friend: TincanClient): Promise<void> {
    await friend.sendFriendRequest(alice.name)
    await alice.byTestId('nav-friends').click()
    const request = alice.page.locator(`[data-testid="incoming-request"][data-username="${friend.username}"]`)
    await expect.poll(() => request.count(), { timeout: 15_000 }).toBe(1)
    await request.getByTestId('request-accept').click()
    await alice.expectOnline(friend.username, true)
  }

  beforeAll(async () => {
    server = await startAppServer()
    browser = await openBrowser(chromiumPath ?? '')
    alice = await Person.arrive(browser, server.url, `alice_${randomBytes(3).toString('hex')}`)
    // A system notification cannot be seen from a headless test: the page gets a stand-in that
    // records what it would show, and can be told the tab is hidden (the app notifies only then).
    await alice.context.addInitScript(() => {
      const w = window as unknown as { notes: { title: string; body: string }[]; hidden: boolean }
      w.notes = []
      w.hidden = false
      Object.defineProperty(document, 'visibilityState', { get: () => (w.hidden ? 'hidden' : 'visible') })
      class RecordedNotification {
        static readonly permission = 'granted'
        static requestPermission = () => Promise.resolve('granted')
        onclick: (() => void) | null = null
        constructor(title: string, options: { body: string }) {
          w.notes.push({ title, body: options.body })
        }
        close(): void {}
      }
      ;(window as unknown as { Notification: unknown }).Notification = RecordedNotification
    })
    await alice.page.reload()
    await alice.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url })
    const env = await nodeClientEnv(server.url)
    mallory = await registerClient(env, 'mallory')
    bob = await registerClient(env, 'bob')
  })

  afterAll(async () => {
    // Undefined only when setting up failed (that failure is reported).
    mallory?.close()
    bob?.close()
    await browser.close()
    await server.stop()
  })

  it('registers Alice in the page, and Mallory and Bob (clients in Node) become her friends', async () => {
    await alice.register('a long and careful passphrase')
    await befriendAlice(mallory)
    await befriendAlice(bob)
  })

  it('F5: shows Alice’s own words in a reply that misquotes her, and "not found" for a quote of nothing she has', async () => {
    await alice.openChat(mallory.username)
    await alice.send('Shall we split the bill?')
    const original = await until('mallory to get alice’s message', async () =>
      (await mallory.loadMessages(directConversationId(alice.name))).find(
        (m: Message) => m.content.text === 'Shall we split the bill?',
      ),
    )
    const forged = 'I, alice, agree to pay mallory 1000 EUR'
    await fromMallory({
      type: 'text',
      id: newMessageId(),
      ts: Date.now(),
      text: 'Deal, as you wrote.',
      replyTo: { id: original.id, author: alice.name, excerpt: forged },
    })
    await fromMallory({
      type: 'text',
      id: newMessageId(),
      ts: Date.now(),
      text: 'And as you promised.',
      replyTo: { id: newMessageId(), author: alice.name, excerpt: forged },
    })
    await alice.expectMessage('And as you promised.')
    const misquoting = alice.message('Deal, as you wrote.')
    expect(await misquoting.getByTestId('quote-author').textContent()).toBe('You')
    expect(await misquoting.getByTestId('quote-excerpt').textContent()).toBe('Shall we split the bill?')
    const quotingNothing = alice.message('And as you promised.')
    expect(await quotingNothing.getByTestId('quote-missing').textContent()).toBe('Original message not found')
    expect(await quotingNothing.getByTestId('quote-author').count()).toBe(0)
    expect(await alice.byTestId('chat-pane').textContent()).not.toContain('1000 EUR')
    await alice.shot('issue-14-misquote')
  })

  it('F6: files a message dated 2286 at its arrival: later messages follow it, and it does not hold the chat at the top', async () => {
    await alice.openChat(mallory.username)
    await fromMallory({ type: 'text', id: newMessageId(), ts: year2286, text: 'Dated 2286' })
    await alice.expectMessage('Dated 2286')
    await alice.send('Written after it')
    await alice.expectMessage('Written after it')
    const texts = await alice.messageTexts()
    expect(texts.indexOf('Dated 2286')).toBeLessThan(texts.indexOf('Written after it'))
    const year = String(new Date().getUTCFullYear())
    const shownAt = await alice.message('Dated 2286').locator('time').getAttribute('datetime')
    expect(shownAt?.slice(0, 4)).toBe(year)

    // Bob writes after that: his chat comes first in the list, and Mallory's shows this year.
    await bob.sendText(directConversationId(alice.name), 'Hello from Bob')
    const order = () =>
      alice.page
        .getByTestId('friend-item')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-username')))
    await expect.poll(order, { timeout: 30_000 }).toEqual([bob.username, mallory.username])
    const listedAt = await alice.friendItem(mallory.username).locator('time').getAttribute('datetime')
    expect(listedAt?.slice(0, 4)).toBe(year)
  })

  it('F7: shows a file name with a right-to-left override neutralised, its real extension apart, everywhere', async () => {
    // Mallory's own client would neutralise the names too: her changed one puts them back on the wire.
    const onTheWire: Record<string, string> = { 'invoice.pdf': disguised, 'holiday.png': disguisedImage }
    const send = internals(mallory).peers.send.bind(internals(mallory).peers)
    internals(mallory).peers.send = (peer: string, plaintext: Uint8Array) => {
      const frame = JSON.parse(utf8Decode(plaintext)) as { type: string; name?: string }
      const name = onTheWire[frame.name ?? '']
      if (frame.type !== 'file-offer' || name === undefined) return send(peer, plaintext)
      return send(peer, utf8Encode(JSON.stringify({ ...frame, name })))
    }
    const sourceOf = (name: string, type: string, bytes: Uint8Array): FileSource => ({
      name,
      size: bytes.length,
      type,
      read: (offset, length) => Promise.resolve(bytes.slice(offset, offset + length)),
    })
    const source = sourceOf(
      'invoice.pdf',
      'application/octet-stream',
      utf8Encode('MZ this would be a program, not a PDF'.repeat(40)),
    )
    await alice.openChat(bob.username)
    await alice.page.evaluate(() => ((window as unknown as { hidden: boolean }).hidden = true))
    await mallory.sendFiles(directConversationId(alice.name), [source])

    // The chat list and the notification.
    const listed = alice.friendItem(mallory.username)
    await expect.poll(() => listed.textContent(), { timeout: 30_000 }).toContain(shownName)
    const notes = () =>
      alice.page.evaluate(() => (window as unknown as { notes: { body: string }[] }).notes.map((n) => n.body))
    await expect.poll(notes).toContain(`📎 ${shownName}`)
    await alice.page.evaluate(() => ((window as unknown as { hidden: boolean }).hidden = false))

    // The file card: the name as written, the extension on its own, and the type it really has.
    await alice.openChat(mallory.username)
    const card = alice.page.getByTestId('file-card')
    await expect.poll(() => card.count(), { timeout: 30_000 }).toBe(1)
    expect(await card.getByTestId('file-name').textContent()).toBe(shownName)
    expect(await card.getByTestId('file-extension').textContent()).toBe('.exe')
    expect(await card.textContent()).toContain('EXE')
    await alice.shot('issue-14-file-name')

    // Saved under the name as shown.
    await card.getByTestId('file-accept').click()
    await alice.expectFileState(shownName, 'done')
    const saved = await alice.saveFile(shownName)
    expect(saved.suggestedName).not.toMatch(bidiControls)
    expect(saved.suggestedName.endsWith('.exe')).toBe(true)

    // A picture: its alt text, and the name in the lightbox.
    await mallory.sendFiles(directConversationId(alice.name), [
      sourceOf(
        'holiday.png',
        'image/png',
        pngImage(64, 48, (x, y) => [x * 4, y * 5, 120]),
      ),
    ])
    const picture = alice.fileCard(shownImage)
    await alice.expectFileState(shownImage, 'done')
    expect(await picture.getByTestId('file-extension').textContent()).toBe('.exe')
    await expect.poll(() => picture.getByTestId('inline-image').getAttribute('alt')).toBe(shownImage)
    await picture.getByTestId('inline-image-button').click()
    const lightbox = alice.byTestId('lightbox')
    await expect.poll(() => lightbox.isVisible()).toBe(true)
    expect(await lightbox.getByTestId('lightbox-name').textContent()).toBe(shownImage)
    expect(await lightbox.getByTestId('lightbox-image').getAttribute('alt')).toBe(shownImage)
    expect(await lightbox.getAttribute('aria-label')).not.toMatch(bidiControls)
    await alice.page.keyboard.press('Escape')
    await expect.poll(() => lightbox.isVisible()).toBe(false)

    // Search results.
    const { hit } = await alice.searchOne('invoice')
    expect(await hit.textContent()).toContain(shownName)
    await alice.byTestId('search-input').fill('')

    // Nothing anywhere on the page turns text around.
    expect(await alice.page.locator('body').innerText()).not.toMatch(bidiControls)
  })

  it('says in the composer how much of a 100,000-character paste did not fit, until the message is sent', async () => {
    await alice.openChat(mallory.username)
    const huge = 'x'.repeat(100_000)
    await alice.page.evaluate((text) => navigator.clipboard.writeText(text), huge)
    await alice.byTestId('composer-input').focus()
    await alice.page.keyboard.press('ControlOrMeta+V')
    await expect.poll(() => alice.byTestId('composer-input').inputValue()).toHaveLength(16_384)
    const note = alice.byTestId('composer-cut-note')
    expect(await note.textContent()).toContain(
      'A message holds at most 16,384 characters: the last 83,616 of what you pasted were left out.',
    )
    await alice.shot('issue-14-paste-cut')
    await alice.byTestId('composer-input').press('Enter')
    await expect.poll(() => note.count()).toBe(0)
  })
})
