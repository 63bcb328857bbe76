import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { crc32, deflateSync } from 'node:zlib'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { expect } from 'vitest'
import { buildApp, type App } from '../../signaling/app.ts'
import { loadConfig } from '../../signaling/config.ts'
import { openStorage } from '../../signaling/storage/open.ts'
import { launchChromium } from './browser.ts'

export const screenshotDir = resolve(import.meta.dirname, 'screenshots')

/** The real server serving the built client (dist/client) on an ephemeral port. */
export interface E2eServer {
  readonly url: string
  stop(): Promise<void>
}

export async function startAppServer(): Promise<E2eServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tincan-e2e-'))
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    CLIENT_DIR: resolve(import.meta.dirname, '../../dist/client'),
    AUTH_RATE_PER_IP: '10000',
  })
  const app: App = await buildApp(config, await openStorage(config))
  await app.app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      await app.shutdown(0)
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export async function openBrowser(chromiumPath: string, extraArgs: readonly string[] = []): Promise<Browser> {
  mkdirSync(screenshotDir, { recursive: true })
  return launchChromium(chromiumPath, extraArgs)
}

/** A person at a browser: one context (its own storage), one page at a time. */
export class Person {
  page!: Page
  private constructor(
    readonly name: string,
    readonly context: BrowserContext,
    private readonly url: string,
  ) {}

  static async arrive(browser: Browser, url: string, name: string): Promise<Person> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } })
    const p = new Person(name, context, url)
    await p.open()
    return p
  }

  async open(): Promise<void> {
    this.page = await this.context.newPage()
    this.page.on('pageerror', (e) => console.error(`[${this.name}] page error:`, e.message))
    await this.page.goto(this.url)
  }

  async shot(name: string): Promise<void> {
    await this.page.screenshot({ path: join(screenshotDir, `${name}.png`) })
  }

  byTestId(id: string) {
    return this.page.getByTestId(id)
  }

  async register(password: string): Promise<void> {
    await this.byTestId('auth-mode-register').click()
    await this.byTestId('auth-username').fill(this.name)
    await this.byTestId('auth-password').fill(password)
    await this.byTestId('auth-confirm').fill(password)
    await this.byTestId('auth-submit').click()
    await expect
      .poll(() => this.byTestId('current-user').textContent(), { timeout: 30_000 })
      .toContain(this.name)
  }

  /** Signs in to an existing account (on a browser that does not remember the session). */
  async login(password: string): Promise<void> {
    await this.byTestId('auth-mode-login').click()
    await this.byTestId('auth-username').fill(this.name)
    await this.byTestId('auth-password').fill(password)
    await this.byTestId('auth-submit').click()
    await expect
      .poll(() => this.byTestId('current-user').textContent(), { timeout: 30_000 })
      .toContain(this.name)
  }

  /** Finds `other` by name, sends a request, has them accept it, and waits until both see each other online. */
  async befriend(other: Person): Promise<void> {
    await this.byTestId('find-friends').or(this.byTestId('nav-friends')).first().click()
    await this.byTestId('friend-search-input').fill(other.name)
    const result = this.page.locator(`[data-testid="friend-search-result"][data-username="${other.name}"]`)
    await expect.poll(() => result.count(), { timeout: 10_000 }).toBe(1)
    await result.getByTestId('friend-add-button').click()
    await other.byTestId('nav-friends').click()
    const request = other.page.locator(`[data-testid="incoming-request"][data-username="${this.name}"]`)
    await expect.poll(() => request.count(), { timeout: 15_000 }).toBe(1)
    await request.getByTestId('request-accept').click()
    for (const [me, them] of [
      [this, other],
      [other, this],
    ] as const)
      await me.expectOnline(them.name, true)
  }

  async expectOnline(username: string, online: boolean, timeout = 20_000): Promise<void> {
    await expect
      .poll(() => this.friendItem(username).getByTestId('friend-online').getAttribute('data-online'), {
        timeout,
      })
      .toBe(String(online))
  }

  /** Reloads the page and waits until the remembered session is back. */
  async reload(): Promise<void> {
    await this.page.reload()
    await expect
      .poll(() => this.byTestId('current-user').textContent(), { timeout: 30_000 })
      .toContain(this.name)
  }

  friendItem(username: string) {
    return this.page.locator(`[data-testid="friend-item"][data-username="${username}"]`)
  }

  async openChat(username: string): Promise<void> {
    await this.friendItem(username).click()
    await expect
      .poll(() => this.page.locator(`[data-testid="chat-pane"][data-peer="${username}"]`).count())
      .toBe(1)
  }

  async send(text: string): Promise<void> {
    await this.byTestId('composer-input').fill(text)
    await this.byTestId('composer-input').press('Enter')
  }

  /** The message in the open chat whose text is exactly `text`. */
  message(text: string): Locator {
    return this.page
      .getByTestId('message')
      .filter({ has: this.page.getByTestId('message-text').getByText(text, { exact: true }) })
  }

  /** Opens the menu of the message whose text is `text` (hovering shows its button); the menu. */
  async messageMenu(text: string): Promise<Locator> {
    const message = this.message(text)
    await message.hover()
    await message.getByTestId('message-menu').click()
    return message.getByTestId('message-actions')
  }

  messageTexts() {
    return this.page.getByTestId('message-text').allTextContents()
  }

  async expectMessage(text: string, timeout = 30_000): Promise<void> {
    await expect.poll(() => this.messageTexts(), { timeout }).toContain(text)
  }

  /** Types `query` into the sidebar's search and waits until it shows exactly one hit: that hit, and its message's id. */
  async searchOne(query: string): Promise<{ hit: Locator; messageId: string }> {
    await this.byTestId('search-input').fill(query)
    const hit = this.byTestId('search-hit')
    await expect.poll(() => hit.count(), { timeout: 10_000 }).toBe(1)
    return { hit, messageId: (await hit.getAttribute('data-message-id')) ?? '' }
  }

  /**
   * Waits until the message `id`, inside `scope`, is shown highlighted (as after a jump to it)
   * and wholly within the visible part of its list.
   */
  async expectJumpedTo(id: string, scope: Page | Locator = this.page): Promise<void> {
    const target = scope.locator(`[data-testid="message"][data-id="${id}"]`)
    await expect.poll(() => target.getAttribute('data-highlighted'), { timeout: 10_000 }).toBe('true')
    const inView = () =>
      target.evaluate((el) => {
        const list = el.closest('[data-testid="message-list"]')?.getBoundingClientRect()
        const box = el.getBoundingClientRect()
        return list !== undefined && box.top >= list.top && box.bottom <= list.bottom
      })
    await expect.poll(inView).toBe(true)
  }

  /** Sends files (paths on disk) from the open chat through the composer's file picker. */
  async sendFiles(...paths: string[]): Promise<void> {
    await this.byTestId('attach-input').setInputFiles(paths)
  }

  /** The card of the file named `name` in the open chat. */
  fileCard(name: string): Locator {
    return this.page
      .getByTestId('file-card')
      .filter({ has: this.page.getByTestId('file-name').getByText(name, { exact: true }) })
  }

  async expectFileState(name: string, state: string, timeout = 60_000): Promise<void> {
    await expect.poll(() => this.fileCard(name).getAttribute('data-state'), { timeout }).toBe(state)
  }

  /** Waits until the card of the image `name` shows the full image (not its thumbnail), `width` pixels wide. */
  async expectFullImage(name: string, width: number): Promise<void> {
    const inline = this.fileCard(name).getByTestId('inline-image')
    await expect.poll(() => inline.getAttribute('data-source'), { timeout: 15_000 }).toBe('full')
    await expect
      .poll(() => inline.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), {
        timeout: 15_000,
      })
      .toBe(width)
  }

  /** Clicks the card's Save button and returns the SHA-256 (hex) of what the browser downloaded. */
  async saveFile(name: string): Promise<{ sha256: string; suggestedName: string }> {
    const [download] = await Promise.all([
      this.page.waitForEvent('download', { timeout: 60_000 }),
      this.fileCard(name).getByTestId('file-save').click(),
    ])
    const path = await download.path()
    return { sha256: sha256(readFileSync(path)), suggestedName: download.suggestedFilename() }
  }
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** A real PNG (8-bit RGB) whose pixels `paint` gives, made without a browser. */
export function pngImage(
  width: number,
  height: number,
  paint: (x: number, y: number) => readonly [number, number, number],
): Buffer {
  const rows = Buffer.alloc((width * 3 + 1) * height)
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1)
    rows[row] = 0 // filter: none
    for (let x = 0; x < width; x++) rows.set(paint(x, y), row + 1 + x * 3)
  }
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
    const out = Buffer.alloc(body.length + 8)
    out.writeUInt32BE(data.length, 0)
    body.copy(out, 4)
    out.writeUInt32BE(crc32(body), body.length + 4)
    return out
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header.set([8, 2, 0, 0, 0], 8) // 8 bits per sample, truecolour, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}
