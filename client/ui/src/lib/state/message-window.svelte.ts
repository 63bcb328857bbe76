import type { TincanClient, Message } from '../../../../core/index.ts'
import { t } from '../i18n/i18n.svelte.ts'
import { byTime, mergeMessages as merge } from '../message-order.ts'
import { toasts } from './toasts.svelte.ts'

const pageSize = 50
/**
 * The most messages a list holds, and so renders: a few pages around what is on screen. Scrolling
 * on pages more in at one end and lets as many go at the other; a busy conversation followed at
 * its newest end lets its oldest go. Without the bound, every message of a long burst made the
 * next one cost more (issue 17).
 */
const maxShown = 3 * pageSize
/**
 * A full list that follows its newest end lets this many of its oldest go at once, not one per
 * new message: every message that took the top row away moved every row up, and the page
 * painted the whole list again each time (issue 17: in a burst of 1,000 the last hundred cost
 * 1.6 times the first). Once a page, the list drops to `maxShown - evictBatch`.
 */
const evictBatch = pageSize
/** A message jumped to (from a search or a quote) stays highlighted this long. */
const highlightMs = 2500

export interface MessageWindowOptions {
  /** What the user is told when the history could not be read. */
  readonly errorText: (e: unknown) => string
  /** The newest messages are shown again after an older stretch (those that came meanwhile can be marked read). */
  readonly onLatest: () => void
}

/** The conversation a window shows; a new object each time one is shown, so a late page can tell it is stale. */
interface Source {
  readonly client: TincanClient
  readonly conversationId: string
}

/**
 * The stretch of one conversation's history that a message list shows: its newest messages, or
 * those around a message jumped to (a search hit, a quote), which stays highlighted for a moment.
 * More is paged in at either end as the user scrolls, and at most `maxShown` are held: what
 * scrolled far out of view at the other end is let go, to be paged in again when scrolled back
 * to. The open chat and the open group each own one.
 */
export class MessageWindow {
  messages = $state.raw<readonly Message[]>([])
  loaded = $state(false)
  hasOlder = $state(false)
  loadingOlder = $state(false)
  /**
   * The list was opened around an older message: newer messages exist below what is loaded, and
   * are fetched as the user scrolls down.
   */
  hasNewer = $state(false)
  loadingNewer = $state(false)
  /** Counts pages added at the newest end by scrolling, so the list does not follow them to the bottom. */
  pagedNewer = $state(0)
  /** The message the list should scroll to, and a counter that changes on every jump. */
  jumpTarget: string | undefined = undefined
  jumps = $state(0)
  /** The message shown highlighted for a moment after a jump. */
  highlighted = $state<string | undefined>()
  /** Counts messages added at the newest end, so the list knows when to follow. */
  appended = $state(0)
  /** Counts requests to show the newest messages (the list scrolls to the bottom). */
  toBottom = $state(0)
  /**
   * The list is scrolled to its newest end (the list component says so as the user scrolls): a
   * new message is appended and, once the list is full, the oldest is let go. Otherwise a full
   * list does not grow: the new message waits below, paged in when scrolled to.
   */
  following = true

  private source: Source | undefined
  private highlightTimer: ReturnType<typeof setTimeout> | undefined

  constructor(private readonly options: MessageWindowOptions) {}

  /** Shows a conversation at its newest messages, or around `focus` (a message id) with that message highlighted. */
  async show(client: TincanClient, conversationId: string, focus?: string): Promise<void> {
    this.clear()
    const source: Source = { client, conversationId }
    this.source = source
    try {
      const found = focus !== undefined && (await this.loadAround(source, focus))
      if (!found) await this.loadLatest(source)
      if (focus !== undefined && !found && this.source === source) toasts.info(t('chat.messageGone'))
    } catch (e: unknown) {
      toasts.error(this.options.errorText(e))
    } finally {
      if (this.source === source) this.loaded = true
    }
  }

  /** Shows nothing (the conversation was closed). */
  clear(): void {
    this.source = undefined
    this.messages = []
    this.loaded = false
    this.hasOlder = false
    this.loadingOlder = false
    this.hasNewer = false
    this.loadingNewer = false
    this.jumpTarget = undefined
    this.highlighted = undefined
    this.following = true
    clearTimeout(this.highlightTimer)
  }

  /** Scrolls to a message and highlights it, loading the messages around it if needed. */
  async focus(id: string): Promise<void> {
    const source = this.source
    if (source === undefined) return
    if (this.messages.some((m) => m.id === id)) {
      this.jumpTo(id)
      return
    }
    try {
      if (!(await this.loadAround(source, id))) toasts.info(t('chat.messageGone'))
    } catch (e: unknown) {
      toasts.error(this.options.errorText(e))
    }
  }

  /** Back to the newest messages (after reading around an older one). */
  async showLatest(): Promise<void> {
    if (this.hasNewer) await this.reload()
  }

  /** Reads the newest messages again and scrolls to them (after a restore brought messages in). */
  async reload(): Promise<void> {
    const source = this.source
    if (source === undefined) return
    try {
      await this.loadLatest(source)
      if (this.source !== source) return
      this.toBottom++
      this.options.onLatest()
    } catch (e: unknown) {
      toasts.error(this.options.errorText(e))
    }
  }

  /** Adds the page before the oldest message shown. */
  async loadOlder(): Promise<void> {
    const oldest = this.messages[0]
    if (oldest === undefined || !this.hasOlder || this.loadingOlder) return
    await this.extend(
      'loadingOlder',
      (s) => s.client.loadMessages(s.conversationId, oldest.sentAt, pageSize),
      (page) => {
        this.hasOlder = page.length === pageSize
        if (this.messages.length <= maxShown) return
        this.messages = this.messages.slice(0, maxShown)
        this.hasNewer = true
      },
    )
  }

  /** Adds the page after the newest message shown (when the list was opened around an older one). */
  async loadNewer(): Promise<void> {
    const newest = this.messages.at(-1)
    if (newest === undefined || !this.hasNewer || this.loadingNewer) return
    await this.extend(
      'loadingNewer',
      (s) => s.client.loadMessagesAfter(s.conversationId, newest.sentAt, pageSize),
      (page) => {
        this.hasNewer = page.length === pageSize
        this.pagedNewer++
        if (this.messages.length > maxShown) {
          this.messages = this.messages.slice(-maxShown)
          this.hasOlder = true
        }
        // Scrolled back down to the newest: what came meanwhile can be marked read.
        if (!this.hasNewer) this.options.onLatest()
      },
    )
  }

  /**
   * Puts a message of this conversation (new, or a receipt for one) where it belongs; true if
   * it was not in the list before and is now. `own`: the user just sent it, so the list goes to
   * its newest end to show it, full or not. Costs the same however long the conversation is.
   */
  add(m: Message, own = false): boolean {
    if (m.conversationId !== this.source?.conversationId) return false
    const list = this.messages
    const at = lastIndexOf(list, m.id)
    if (at !== -1) {
      // A receipt or a state change: the message keeps its place.
      const next = list.slice()
      next[at] = m
      this.messages = next
      return false
    }
    const newest = list.at(-1)
    const oldest = list[0]
    // A message older than the loaded page must not open a gap in the list, nor a new message
    // below a list opened around an older one (it is loaded when scrolled to).
    if (this.hasOlder && oldest !== undefined && byTime(m, oldest) < 0) return false
    if (this.hasNewer && newest !== undefined && byTime(newest, m) < 0) return false
    if (newest !== undefined && byTime(m, newest) < 0) {
      // Late, from before the newest shown (a group member's catch-up): merged in place.
      this.messages = this.bounded(merge(list, [m]), this.following)
      return true
    }
    if (list.length >= maxShown && !this.following && !own) {
      // The user reads further up: a full list does not grow, the message waits below.
      this.hasNewer = true
      return false
    }
    this.messages = this.bounded([...list, m], true)
    this.appended++
    return true
  }

  /** At most `maxShown`: the oldest go when the list follows its newest end, else the newest. */
  private bounded(list: Message[], keepNewest: boolean): Message[] {
    if (list.length <= maxShown) return list
    if (keepNewest) {
      this.hasOlder = true
      return list.slice(-(maxShown - evictBatch))
    }
    this.hasNewer = true
    return list.slice(0, maxShown)
  }

  /** An edit, a reaction, a deletion for everyone: replaces the message where it is shown. */
  update(m: Message): void {
    if (this.messages.some((x) => x.id === m.id))
      this.messages = this.messages.map((x) => (x.id === m.id ? m : x))
  }

  /** Deleted for me, or disappeared. */
  remove(id: string): void {
    if (this.messages.some((x) => x.id === id)) this.messages = this.messages.filter((x) => x.id !== id)
  }

  /** Reads a page with `busy` set meanwhile, merges it in and lets `done` note whether there is more. */
  private async extend(
    busy: 'loadingOlder' | 'loadingNewer',
    read: (source: Source) => Promise<Message[]>,
    done: (page: readonly Message[]) => void,
  ): Promise<void> {
    const source = this.source
    if (source === undefined) return
    this[busy] = true
    try {
      const page = await read(source)
      if (this.source !== source) return
      this.messages = merge(this.messages, page)
      done(page)
    } catch (e: unknown) {
      toasts.error(this.options.errorText(e))
    } finally {
      if (this.source === source) this[busy] = false
    }
  }

  private async loadLatest(source: Source): Promise<void> {
    const page = await source.client.loadMessages(source.conversationId, undefined, pageSize)
    if (this.source !== source) return
    // Messages that arrived while this page was read are kept, unless the list showed an older
    // stretch (a gap would open between it and this page).
    const merged = this.hasNewer ? page : merge(this.messages, page)
    this.hasOlder = page.length === pageSize
    this.hasNewer = false
    this.messages = this.bounded(merged, true)
  }

  /**
   * Loads the messages around one (a page each side) and jumps to it; false if it is not in this
   * conversation on this device.
   */
  private async loadAround(source: Source, id: string): Promise<boolean> {
    const { client, conversationId } = source
    const target = await client.message(id)
    if (target?.conversationId !== conversationId) return false
    const [before, after] = await Promise.all([
      client.loadMessages(conversationId, target.sentAt + 1, pageSize),
      client.loadMessagesAfter(conversationId, target.sentAt, pageSize),
    ])
    if (this.source !== source) return true
    this.messages = merge(before, after)
    this.hasOlder = before.length === pageSize
    this.hasNewer = after.length === pageSize
    this.jumpTo(id)
    return true
  }

  private jumpTo(id: string): void {
    this.jumpTarget = id
    this.jumps++
    this.highlighted = id
    clearTimeout(this.highlightTimer)
    this.highlightTimer = setTimeout(() => {
      if (this.highlighted === id) this.highlighted = undefined
    }, highlightMs)
  }
}

/** Where the message `id` is in `list`, searched from the newest end (receipts are for recent ones); -1 if absent. */
function lastIndexOf(list: readonly Message[], id: string): number {
  for (let i = list.length - 1; i >= 0; i--) if (list[i]?.id === id) return i
  return -1
}
