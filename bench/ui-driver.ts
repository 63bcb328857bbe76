// Drives the real web client (dist/client) in Chromium for the benchmarks, the way a person does:
// forms, buttons, the composer. test/e2e/message-watch.ts notes when messages show. One browser process per person, so each page's renderer is its
// own process and its memory can be read from /proc.
import { readFileSync } from 'node:fs'
import type { Browser, CDPSession, Page } from 'playwright-core'
import { launchChromium } from '../test/e2e/browser.ts'
import { messageWatch } from '../test/e2e/message-watch.ts'
import { waitFor } from './page-driver.ts'

export interface Person {
  readonly name: string
  readonly browser: Browser
  readonly page: Page
  readonly cdp: CDPSession
}

/** A new browser process with one page of the app, signed up as `name`. */
export async function arrive(chromium: string, url: string, name: string): Promise<Person> {
  const browser = await launchChromium(chromium)
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } })
  await context.addInitScript({ content: messageWatch })
  const page = await context.newPage()
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message))
  await page.goto(url)
  await page.getByTestId('auth-mode-register').click()
  await page.getByTestId('auth-username').fill(name)
  await page.getByTestId('auth-password').fill(`${name} has a long passphrase`)
  await page.getByTestId('auth-confirm').fill(`${name} has a long passphrase`)
  await page.getByTestId('auth-submit').click()
  await waitFor(
    async () => ((await page.getByTestId('current-user').textContent()) ?? '').includes(name),
    60_000,
    `${name} signed up`,
    50,
  )
  return { name, browser, page, cdp: await page.context().newCDPSession(page) }
}

function friendItem(p: Person, username: string) {
  return p.page.locator(`[data-testid="friend-item"][data-username="${username}"]`)
}

/** `a` finds `b`, asks, `b` accepts; both wait until they see each other online. */
export async function befriend(a: Person, b: Person): Promise<void> {
  await a.page.getByTestId('find-friends').or(a.page.getByTestId('nav-friends')).first().click()
  await a.page.getByTestId('friend-search-input').fill(b.name)
  const result = a.page.locator(`[data-testid="friend-search-result"][data-username="${b.name}"]`)
  await waitFor(async () => (await result.count()) === 1, 15_000, `${a.name} finds ${b.name}`, 50)
  await result.getByTestId('friend-add-button').click()
  await b.page.getByTestId('nav-friends').click()
  const request = b.page.locator(`[data-testid="incoming-request"][data-username="${a.name}"]`)
  await waitFor(async () => (await request.count()) === 1, 15_000, `${b.name} sees ${a.name}'s request`, 50)
  await request.getByTestId('request-accept').click()
  for (const [me, them] of [
    [a, b],
    [b, a],
  ] as const)
    await waitFor(
      async () =>
        (await friendItem(me, them.name).getByTestId('friend-online').getAttribute('data-online')) === 'true',
      30_000,
      `${me.name} sees ${them.name} online`,
      50,
    )
}

export async function openChat(p: Person, username: string): Promise<void> {
  await friendItem(p, username).click()
  const pane = p.page.locator(`[data-testid="chat-pane"][data-peer="${username}"]`)
  await waitFor(async () => (await pane.count()) === 1, 15_000, `${p.name} opens the chat`, 50)
}

/** `admin` creates a group with `members` (their friends); returns its id once every page lists it. */
export async function createGroup(admin: Person, members: readonly Person[], name: string): Promise<string> {
  await admin.page.getByTestId('new-group').click()
  await admin.page.getByTestId('group-name-input').fill(name)
  for (const m of members)
    await admin.page.locator(`[data-testid="group-member-option"][data-username="${m.name}"]`).check()
  await admin.page.getByTestId('group-create').click()
  const pane = admin.page.getByTestId('group-pane')
  await waitFor(async () => (await pane.count()) === 1, 30_000, 'the group pane', 50)
  const groupId = (await pane.getAttribute('data-group-id')) ?? ''
  for (const m of members)
    await waitFor(
      async () => (await groupItem(m, groupId).count()) === 1,
      30_000,
      `${m.name} sees the group`,
      50,
    )
  return groupId
}

function groupItem(p: Person, groupId: string) {
  return p.page.locator(`[data-testid="group-item"][data-group-id="${groupId}"]`)
}

export async function openGroup(p: Person, groupId: string): Promise<void> {
  await groupItem(p, groupId).click()
  const pane = p.page.locator(`[data-testid="group-pane"][data-group-id="${groupId}"]`)
  await waitFor(async () => (await pane.count()) === 1, 15_000, `${p.name} opens the group`, 50)
}

/** A page's memory, in bytes, both ways it is commonly counted. */
export interface PageMemory {
  /** Resident set: everything of the renderer in RAM, with the pages of Chromium's own binary and fonts it shares with its other processes. */
  readonly rss: number
  /** Private: the renderer's own anonymous memory and swap (what Chromium's task manager calls its memory footprint). */
  readonly private: number
}

/**
 * Memory of the page: its browser's largest renderer process (one page per browser; the others
 * are spare or utility renderers).
 */
export async function pageMemory(p: Person): Promise<PageMemory> {
  const cdp = await p.browser.newBrowserCDPSession()
  try {
    const info = (await cdp.send('SystemInfo.getProcessInfo')) as {
      processInfo: { type: string; id: number }[]
    }
    let most = { rss: 0, private: 0 }
    for (const proc of info.processInfo) {
      if (proc.type !== 'renderer') continue
      try {
        const status = readFileSync(`/proc/${proc.id}/status`, 'utf8')
        const kb = (field: string) =>
          Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024
        const rss = kb('VmRSS')
        if (rss > most.rss) most = { rss, private: kb('RssAnon') + kb('VmSwap') }
      } catch {
        // The process ended between the list and the read.
      }
    }
    return most
  } finally {
    await cdp.detach()
  }
}

/** The page's JavaScript heap in use, in bytes. */
export async function jsHeapBytes(p: Person): Promise<number> {
  const { usedSize } = (await p.cdp.send('Runtime.getHeapUsage')) as { usedSize: number }
  return usedSize
}

/** Samples each person's page memory until stopped; the peaks, in bytes. */
export function sampleMemory(people: readonly Person[], everyMs = 500) {
  const rss = new Map<string, number>(people.map((p) => [p.name, 0]))
  const own = new Map<string, number>(people.map((p) => [p.name, 0]))
  const heap = new Map<string, number>(people.map((p) => [p.name, 0]))
  const peak = (m: Map<string, number>, name: string, v: number) => m.set(name, Math.max(m.get(name) ?? 0, v))
  let running = true
  const loop = (async () => {
    while (running) {
      for (const p of people) {
        const [m, h] = await Promise.all([pageMemory(p), jsHeapBytes(p)])
        peak(rss, p.name, m.rss)
        peak(own, p.name, m.private)
        peak(heap, p.name, h)
      }
      await new Promise((r) => setTimeout(r, everyMs))
    }
  })()
  return {
    async stop() {
      running = false
      await loop
      return { rss, private: own, heap }
    },
  }
}
