import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumOrSkip } from './browser.ts'
import {
  openBrowser,
  Person,
  pngImage,
  screenshotDir,
  sha256,
  startAppServer,
  type E2eServer,
} from './app.ts'

const chromiumPath = chromiumOrSkip()
const suffix = randomBytes(3).toString('hex')
const docsImages = resolve(import.meta.dirname, '../../docs/images')

/** Markup that would run if the name were ever parsed as HTML, and a right-to-left override. */
const hostileName = '<img src=x onerror=window.__pwned=1>\u202Etxt.exe'
const groupName = 'Weekend hike 🥾'
const mib = 1024 * 1024
const oldNews = 'Whoever finds the brass compass keeps it'
/** More than a page (50) of messages, written after `oldNews`. */
const trailNotes = Array.from({ length: 56 }, (_, i) => `Trail note ${i}, nothing to report`)
const newestNote = trailNotes.at(-1) ?? ''

function groupItem(p: Person, groupId: string) {
  return p.page.locator(`[data-testid="group-item"][data-group-id="${groupId}"]`)
}

function member(p: Person, username: string) {
  return p.page.locator(`[data-testid="group-member"][data-username="${username}"]`)
}

async function openGroup(p: Person, groupId: string): Promise<void> {
  await expect.poll(() => groupItem(p, groupId).count(), { timeout: 30_000 }).toBe(1)
  await groupItem(p, groupId).click()
  await expect
    .poll(() => p.page.locator(`[data-testid="group-pane"][data-group-id="${groupId}"]`).count())
    .toBe(1)
}

/** Opens the members panel if it is not open (it opens by itself on wide screens). */
async function showMembers(p: Person): Promise<void> {
  if ((await p.byTestId('group-members').count()) === 0) await p.byTestId('group-members-button').click()
  await expect.poll(() => p.byTestId('group-members').count()).toBe(1)
}

/** The group's name as every place on the page shows it, and whether anything in it ran. */
async function shownName(p: Person, groupId: string) {
  return p.page.evaluate((id) => {
    const item = document.querySelector(`[data-testid="group-item"][data-group-id="${CSS.escape(id)}"]`)
    const name = item?.querySelector('[data-testid="group-item-name"]')
    return {
      attribute: item?.getAttribute('data-name') ?? null,
      text: name?.textContent ?? null,
      dir: name?.getAttribute('dir') ?? null,
      pwned: (window as unknown as { __pwned?: unknown }).__pwned ?? null,
      injected: document.querySelectorAll('img[src="x"]').length,
    }
  }, groupId)
}

// Ann is friends with Bob and with Cat; Bob and Cat are not friends: they meet in the group only.
describe.skipIf(chromiumPath === undefined)('a group of three in Chromium, through the UI only', () => {
  let server: E2eServer
  let browser: Browser
  let ann: Person
  let bob: Person
  let cat: Person
  let groupId = ''
  let dir: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tincan-e2e-group-files-'))
    server = await startAppServer()
    browser = await openBrowser(chromiumPath ?? '')
    ann = await Person.arrive(browser, server.url, `ann_${suffix}`)
    bob = await Person.arrive(browser, server.url, `bob_${suffix}`)
    cat = await Person.arrive(browser, server.url, `cat_${suffix}`)
  })

  afterAll(async () => {
    await browser.close()
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('registers three people; Ann befriends Bob and Cat, who are not friends of each other', async () => {
    await ann.register('ann has a long passphrase')
    await bob.register('bob has a long passphrase')
    await cat.register('cat has a long passphrase')
    await ann.befriend(bob)
    await ann.befriend(cat)
    expect(await bob.friendItem(cat.name).count()).toBe(0)
  })

  it('lets Ann create a group with Bob and Cat; its hostile name shows as text on every page', async () => {
    await ann.byTestId('new-group').click()
    await ann.byTestId('group-name-input').fill(hostileName)
    for (const p of [bob, cat])
      await ann.page.locator(`[data-testid="group-member-option"][data-username="${p.name}"]`).check()
    await ann.byTestId('group-create').click()
    const pane = ann.byTestId('group-pane')
    await expect.poll(() => pane.count(), { timeout: 30_000 }).toBe(1)
    groupId = (await pane.getAttribute('data-group-id')) ?? ''
    expect(groupId).not.toBe('')

    for (const p of [ann, bob, cat]) {
      await expect.poll(() => groupItem(p, groupId).count(), { timeout: 30_000 }).toBe(1)
      expect(await shownName(p, groupId)).toEqual({
        attribute: hostileName,
        text: hostileName,
        dir: 'auto',
        pwned: null,
        injected: 0,
      })
    }
    expect(await ann.byTestId('group-title').textContent()).toBe(hostileName)
    await ann.shot('group-01-hostile-name')

    // The admin renames it; everyone sees the new name.
    await showMembers(ann)
    await ann.byTestId('group-rename').click()
    await ann.byTestId('group-rename-input').fill(groupName)
    await ann.byTestId('group-rename-save').click()
    for (const p of [ann, bob, cat])
      await expect
        .poll(() => groupItem(p, groupId).getAttribute('data-name'), { timeout: 30_000 })
        .toBe(groupName)
  })

  it('carries a message from each of Ann, Bob and Cat to the other two, under its author’s name', async () => {
    await openGroup(bob, groupId)
    await openGroup(cat, groupId)
    const lines: [Person, string][] = [
      [ann, 'Saturday at 8 at the trailhead? 🥾'],
      [bob, 'Works for me. I’ll bring coffee ☕'],
      [cat, 'Me too! Bringing the map 🗺️'],
    ]
    for (const [sender, text] of lines) {
      await sender.send(text)
      for (const p of [ann, bob, cat]) await p.expectMessage(text)
    }
    for (const p of [ann, bob, cat]) {
      const authors = await p.byTestId('message-author').allTextContents()
      const others = [ann, bob, cat].filter((o) => o !== p).map((o) => o.name)
      expect(authors).toEqual(others)
    }
    const first = ann.page.locator('[data-testid="message"][data-direction="out"]').first()
    await expect
      .poll(() => first.getAttribute('data-state'), { timeout: 30_000 })
      .toMatch(/sent|delivered|read/)

    await showMembers(bob)
    for (const p of [ann, bob, cat])
      await expect
        .poll(() => member(bob, p.name).getAttribute('data-online'), { timeout: 20_000 })
        .toBe('true')
    expect(await member(bob, ann.name).getByTestId('group-admin-badge').count()).toBe(1)
    expect(await bob.byTestId('group-status').getAttribute('data-members')).toBe('3')
    await bob.shot('group-02-chat')
  })

  it('shows Ann who is typing in the group, and her message as read once Bob and Cat have seen it', async () => {
    // What Ann's typing line says, read while `typists` go on typing (a space each time), so
    // none of them pauses long enough to count as stopped.
    const typingLine =
      (...typists: Person[]) =>
      async () => {
        for (const p of typists) await p.byTestId('composer-input').press('Space')
        return ((await ann.byTestId('typing-indicator').textContent()) ?? '').trim()
      }
    await bob.byTestId('composer-input').fill('Leaving now')
    await expect.poll(typingLine(bob), { timeout: 10_000 }).toContain(bob.name)
    await cat.byTestId('composer-input').fill('Be there in')
    await expect
      .poll(typingLine(bob, cat), { timeout: 10_000 })
      .toMatch(new RegExp(`${bob.name}.* and .*${cat.name}`))
    // Sending ends Bob's typing; Cat emptying her composer ends hers.
    await bob.byTestId('composer-input').press('Enter')
    await ann.expectMessage('Leaving now')
    await expect.poll(typingLine(cat), { timeout: 10_000 }).not.toContain(bob.name)
    expect(await typingLine(cat)()).toContain(cat.name)
    await cat.byTestId('composer-input').fill('')
    await expect.poll(typingLine(), { timeout: 10_000 }).toBe('')

    // Bob and Cat have the group open, so each reads it as it comes.
    await ann.send('See you at the trailhead')
    await expect
      .poll(() => ann.message('See you at the trailhead').getAttribute('data-state'), { timeout: 30_000 })
      .toBe('read')
  })

  it('lets Bob answer Ann with a quote, Bob and Cat react, and Ann edit her message and then delete it for everyone', async () => {
    const plan = 'Who brings the first-aid kit?'
    const answer = 'I will, it is in my car 🩹'
    const fixed = 'Who brings the first-aid kit and the sunscreen?'
    await ann.send(plan)
    for (const p of [bob, cat]) await p.expectMessage(plan)
    const planId = (await ann.message(plan).getAttribute('data-id')) ?? ''
    const planFor = (p: Person) => p.page.locator(`[data-testid="message"][data-id="${planId}"]`)

    // Bob may answer and react, but only Ann may edit or delete it for everyone.
    const menu = await bob.messageMenu(plan)
    expect(await menu.getByTestId('action-edit').count()).toBe(0)
    expect(await menu.getByTestId('action-delete-everyone').count()).toBe(0)
    await menu.getByTestId('action-reply').click()
    await expect.poll(() => bob.byTestId('reply-bar').textContent()).toContain(plan)
    await bob.send(answer)
    await expect.poll(() => bob.byTestId('reply-bar').count()).toBe(0)
    for (const p of [ann, cat]) {
      await p.expectMessage(answer)
      const quote = p.message(answer).getByTestId('quote')
      expect(await quote.getAttribute('data-quote-id')).toBe(planId)
      expect(await quote.getAttribute('data-quote-author')).toBe(ann.name)
      expect(await quote.getByTestId('quote-excerpt').textContent()).toBe(plan)
    }
    expect(await cat.message(answer).getByTestId('quote-author').textContent()).toBe(ann.name)
    expect(await ann.message(answer).getByTestId('quote-author').textContent()).toBe('You')

    for (const p of [cat, bob])
      await (await p.messageMenu(plan)).locator('[data-testid="action-react"][data-emoji="👍"]').click()
    const thumbs = planFor(ann).locator('[data-testid="reaction"][data-emoji="👍"]')
    await expect.poll(() => thumbs.getAttribute('data-count'), { timeout: 30_000 }).toBe('2')
    expect(await thumbs.textContent()).toContain('2')
    expect(await thumbs.getAttribute('data-mine')).toBe('false')
    const label = (await thumbs.getAttribute('aria-label')) ?? ''
    for (const p of [bob, cat]) expect(label).toContain(p.name)
    await ann.shot('group-05-message-actions')

    await (await ann.messageMenu(plan)).getByTestId('action-edit').click()
    await expect.poll(() => ann.byTestId('composer-input').inputValue()).toBe(plan)
    await ann.send(fixed)
    for (const p of [bob, cat]) {
      await p.expectMessage(fixed)
      await expect.poll(() => planFor(p).getByTestId('message-edited').count()).toBe(1)
      expect(await p.messageTexts()).not.toContain(plan)
    }

    await (await ann.messageMenu(fixed)).getByTestId('action-delete-everyone').click()
    await ann.byTestId('confirm-delete-confirm').click()
    for (const p of [bob, cat]) {
      await expect.poll(() => planFor(p).getByTestId('message-deleted').count(), { timeout: 30_000 }).toBe(1)
      expect(await p.messageTexts()).not.toContain(fixed)
    }
  })

  it('shows an image Ann attaches inline to Bob and Cat, and gives Bob the file she sent with it, byte for byte', async () => {
    // A 640 px wide trail map, and a 3 MiB file of random bytes, picked together.
    const map = pngImage(640, 360, (x, y) => [
      Math.round(60 + (x / 640) * 120),
      Math.round(140 - (y / 360) * 60),
      Math.abs(x - 2 * y) < 6 ? 30 : 90,
    ])
    const track = randomBytes(3 * mib)
    const mapPath = join(dir, 'trail-map.png')
    const trackPath = join(dir, 'track.gpx')
    writeFileSync(mapPath, map)
    writeFileSync(trackPath, track)
    await ann.sendFiles(mapPath, trackPath)

    for (const p of [bob, cat]) {
      await p.expectFileState('trail-map.png', 'done')
      await p.expectFullImage('trail-map.png', 640)
      await p.expectFileState('track.gpx', 'offered')
      const card = p.page.locator('[data-testid="message"]').filter({ has: p.fileCard('track.gpx') })
      expect(await card.getAttribute('data-author')).toBe(ann.name)
    }
    for (const name of ['trail-map.png', 'track.gpx']) await ann.expectFileState(name, 'done')

    await bob.fileCard('track.gpx').getByTestId('file-accept').click()
    await bob.expectFileState('track.gpx', 'done')
    const saved = await bob.saveFile('track.gpx')
    expect(saved.suggestedName).toBe('track.gpx')
    expect(saved.sha256).toBe(sha256(track))
    // Accepting is Bob's own choice: Cat is still asked.
    expect(await cat.fileCard('track.gpx').getAttribute('data-state')).toBe('offered')
    // The picture for the README (a reply, reactions, a deleted message, an image and a file, with
    // the members panel): no banner or toasts over the conversation.
    await showMembers(bob)
    if ((await bob.byTestId('notify-dismiss').count()) > 0) await bob.byTestId('notify-dismiss').click()
    while ((await bob.byTestId('toast').count()) > 0)
      await bob.byTestId('toast').first().getByRole('button').click()
    await bob.shot('group-04-files')
    mkdirSync(docsImages, { recursive: true })
    copyFileSync(join(screenshotDir, 'group-04-files.png'), join(docsImages, 'group.png'))
  })

  it('brings Cat what Ann wrote while Cat was away, from Bob, with Ann offline', async () => {
    await cat.page.close()
    await ann.expectOnline(cat.name, false)
    const missed = ['Cat, we moved it to 9', 'Bob has the car keys', '最后一条 ✅']
    for (const text of missed) await ann.send(text)
    for (const text of missed) await bob.expectMessage(text)
    await ann.page.close()
    await bob.expectOnline(ann.name, false)

    await cat.open()
    await expect
      .poll(() => cat.byTestId('current-user').textContent(), { timeout: 30_000 })
      .toContain(cat.name)
    // Unread on the list before the group is opened.
    await expect
      .poll(() => groupItem(cat, groupId).getByTestId('group-unread').textContent(), { timeout: 60_000 })
      .toBe(String(missed.length))
    await openGroup(cat, groupId)
    for (const text of missed) await cat.expectMessage(text, 10_000)
    expect((await cat.messageTexts()).slice(-missed.length)).toEqual(missed)
    await expect.poll(() => groupItem(cat, groupId).getByTestId('group-unread').count()).toBe(0)
  })

  it('lets Ann remove Cat: Cat sees who removed her and cannot send; Bob still gets Ann’s messages', async () => {
    await ann.open()
    await expect
      .poll(() => ann.byTestId('current-user').textContent(), { timeout: 30_000 })
      .toContain(ann.name)
    await openGroup(ann, groupId)
    await showMembers(ann)
    await member(ann, cat.name).getByTestId('group-remove-member').click()
    await ann.byTestId('confirm-remove-member-confirm').click()
    await expect.poll(() => member(ann, cat.name).count(), { timeout: 30_000 }).toBe(0)

    const banner = cat.byTestId('group-removed-banner')
    await expect.poll(() => banner.count(), { timeout: 60_000 }).toBe(1)
    expect(await banner.textContent()).toContain(ann.name)
    expect(await cat.byTestId('composer-input').isDisabled()).toBe(true)
    expect(await cat.byTestId('composer-send').isDisabled()).toBe(true)
    expect(await cat.byTestId('composer-attach').isDisabled()).toBe(true)
    expect(await groupItem(cat, groupId).getAttribute('data-state')).toBe('removed')
    await cat.shot('group-03-removed')

    await expect.poll(() => member(bob, cat.name).count(), { timeout: 30_000 }).toBe(0)
    await ann.send('Just the two of us now')
    await bob.expectMessage('Just the two of us now')
    expect(await cat.messageTexts()).not.toContain('Just the two of us now')
  })

  it('opens the group at an old message Bob searches for, highlighted, and pages newer ones in as he scrolls down', async () => {
    for (const text of [oldNews, ...trailNotes]) await ann.send(text)
    await bob.expectMessage(newestNote)

    // From another pane, so the group is opened by the hit itself.
    await bob.byTestId('nav-settings').click()
    const { hit, messageId } = await bob.searchOne('Compass')
    expect(await bob.byTestId('search-group').getAttribute('data-kind')).toBe('group')
    await hit.click()

    const pane = bob.page.locator(`[data-testid="group-pane"][data-group-id="${groupId}"]`)
    await bob.expectJumpedTo(messageId, pane)
    // More than a page was written after it: the newest messages are not loaded yet.
    expect(await bob.messageTexts()).not.toContain(newestNote)
    expect(await pane.getByTestId('jump-latest').count()).toBe(1)

    // Scrolling down brings the newer pages in, up to the newest message.
    await expect
      .poll(
        async () => {
          await pane.getByTestId('message-list').evaluate((el) => {
            el.scrollTop = el.scrollHeight
          })
          return bob.messageTexts()
        },
        { timeout: 15_000 },
      )
      .toContain(newestNote)
    await expect.poll(() => pane.getByTestId('jump-latest').count()).toBe(0)
    // Paged in below, not replaced by the newest page: the old message is still there.
    expect(await bob.messageTexts()).toContain(oldNews)
    await bob.byTestId('search-clear').click()
  })
})
