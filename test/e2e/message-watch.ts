import type { Page } from 'playwright-core'

/**
 * Put into a page of the app (as an init script, or evaluated once it is open): notes when each
 * message text first shows in a message list (`performance.timeOrigin + now`, the clock of
 * Date.now in Node on the same machine) and the most message bubbles the DOM ever held at once.
 * A string, not a function: tsx puts its `__name` helper into a function's source, which the page
 * does not have.
 */
export const messageWatch = `(() => {
  if (window.__messages !== undefined) return
  const shown = new Map()
  const waiting = new Map()
  let most = 0
  const note = (el) => {
    const text = el.textContent ?? ''
    if (shown.has(text)) return
    const at = performance.timeOrigin + performance.now()
    shown.set(text, at)
    waiting.get(text)?.(at)
    waiting.delete(text)
  }
  // Bubbles are counted from what each record adds and removes, not by querying the whole
  // document on every change: the watch should cost the measured page as little as it can.
  let bubbles = 0
  const rows = (node) =>
    node.matches('[data-testid="message"]') ? 1 : node.querySelectorAll('[data-testid="message"]').length
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      for (const node of r.addedNodes) {
        if (!(node instanceof Element)) continue
        bubbles += rows(node)
        if (node.matches('[data-testid="message-text"]')) note(node)
        for (const el of node.querySelectorAll('[data-testid="message-text"]')) note(el)
      }
      for (const node of r.removedNodes) if (node instanceof Element) bubbles -= rows(node)
    }
    most = Math.max(most, bubbles)
  })
  const start = () => observer.observe(document.documentElement, { childList: true, subtree: true })
  if (document.documentElement === null) document.addEventListener('DOMContentLoaded', start)
  else start()
  window.__messages = {
    whenShown(text) {
      const at = shown.get(text)
      if (at !== undefined) return Promise.resolve(at)
      return new Promise((resolve) => waiting.set(text, resolve))
    },
    shownAt(texts) {
      return texts.map((t) => shown.get(t) ?? null)
    },
    mostBubbles() {
      return most
    },
  }
})()`

interface Watch {
  whenShown(text: string): Promise<number>
  shownAt(texts: readonly string[]): (number | null)[]
  mostBubbles(): number
}

// The texts go as arguments, not into the evaluated source: a new source for each message is a new
// script for the page to compile and keep, which showed as the sender's page memory growing.

/** When `text` first showed in the page's message list (ms since the epoch); waits for it. */
export function whenShown(page: Page, text: string): Promise<number> {
  return page.evaluate((t) => (window as unknown as { __messages: Watch }).__messages.whenShown(t), text)
}

/** When each text first showed in the page's message list, null for those not shown yet. */
export function shownAt(page: Page, texts: readonly string[]): Promise<(number | null)[]> {
  return page.evaluate((t) => (window as unknown as { __messages: Watch }).__messages.shownAt(t), texts)
}

/** The most message bubbles the page's DOM held at once since the watch was put in. */
export function mostBubbles(page: Page): Promise<number> {
  return page.evaluate(() => (window as unknown as { __messages: Watch }).__messages.mostBubbles())
}
