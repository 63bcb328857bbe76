import type { TincanClient } from '../../../../core/client.ts'
import { directConversationId, type Message } from '../../../../core/store/history.ts'
import { peerLimits } from '../../../../../shared/index.ts'
import { SvelteSet } from 'svelte/reactivity'
import { errorText } from '../errors.ts'
import { byTime, mergeMessages as merge } from '../message-order.ts'
import { t } from '../i18n/i18n.svelte.ts'
import { filesState } from './files.svelte.ts'
import { toasts } from './toasts.svelte.ts'

const pageSize = 50
/** Our "typing" ends after this long without a keystroke. */
const typingIdleMs = 3000
/** A friend's "typing" is forgotten after this long if their "stopped" never arrives. */
const typingStaleMs = 8000

/** The open conversation: its messages, paging, typing both ways, read marking. */
class ChatState {
  peer = $state<string | undefined>()
  messages = $state.raw<readonly Message[]>([])
  loaded = $state(false)
  hasOlder = $state(false)
  loadingOlder = $state(false)
  /** Friends typing right now. */
  readonly typing = new SvelteSet<string>()
  /** Counts messages added at the newest end, so the list knows when to follow. */
  appended = $state(0)

  private client: TincanClient | undefined
  private off: (() => void)[] = []
  private typingTimers = new Map<string, ReturnType<typeof setTimeout>>()
  private myTyping: { peer: string; timer: ReturnType<typeof setTimeout> } | undefined
  private sending: Promise<unknown> = Promise.resolve()
  private marking: Promise<void> | undefined
  private markAgain = false

  attach(client: TincanClient): void {
    this.client = client
    const onVisible = () => this.markRead()
    document.addEventListener('visibilitychange', onVisible)
    this.off = [
      client.on('message', (m) => this.onMessage(m)),
      client.on('typing', ({ peer, typing }) => this.setTyping(peer, typing)),
      () => document.removeEventListener('visibilitychange', onVisible),
    ]
  }

  detach(): void {
    for (const off of this.off) off()
    this.off = []
    for (const timer of this.typingTimers.values()) clearTimeout(timer)
    this.typingTimers.clear()
    if (this.myTyping !== undefined) clearTimeout(this.myTyping.timer)
    this.myTyping = undefined
    this.client = undefined
    this.close()
    this.typing.clear()
  }

  async open(peer: string): Promise<void> {
    const client = this.client
    if (client === undefined || this.peer === peer) return
    this.stopTyping()
    filesState.releaseImages()
    this.peer = peer
    this.messages = []
    this.loaded = false
    this.hasOlder = false
    client.connect(peer)
    try {
      const page = await client.loadMessages(directConversationId(peer), undefined, pageSize)
      if (this.peer !== peer) return
      this.messages = merge(this.messages, page)
      this.hasOlder = page.length === pageSize
    } catch (e: unknown) {
      toasts.error(errorText(e))
    } finally {
      if (this.peer === peer) this.loaded = true
    }
    this.markRead()
  }

  close(): void {
    this.stopTyping()
    filesState.releaseImages()
    this.peer = undefined
    this.messages = []
    this.loaded = false
    this.hasOlder = false
  }

  async loadOlder(): Promise<void> {
    const client = this.client
    const peer = this.peer
    const oldest = this.messages[0]
    if (
      client === undefined ||
      peer === undefined ||
      !this.hasOlder ||
      this.loadingOlder ||
      oldest === undefined
    )
      return
    this.loadingOlder = true
    try {
      const page = await client.loadMessages(directConversationId(peer), oldest.sentAt, pageSize)
      if (this.peer !== peer) return
      this.messages = merge(this.messages, page)
      this.hasOlder = page.length === pageSize
    } catch (e: unknown) {
      toasts.error(errorText(e))
    } finally {
      this.loadingOlder = false
    }
  }

  /**
   * Sends the text; false (with a toast) if it could not be queued. Sends run one after
   * another, so messages typed quickly still go out in order.
   */
  send(text: string): Promise<boolean> {
    const run = this.sending.then(() => this.sendNow(text))
    this.sending = run.catch(() => undefined)
    return run
  }

  private async sendNow(text: string): Promise<boolean> {
    const client = this.client
    const peer = this.peer
    const body = text.trim()
    if (client === undefined || peer === undefined || body === '') return false
    if (body.length > peerLimits.maxTextLength) {
      toasts.error(t('chat.tooLong', { max: peerLimits.maxTextLength }))
      return false
    }
    this.stopTyping()
    try {
      const m = await client.sendText(peer, body)
      this.onMessage(m)
      return true
    } catch (e: unknown) {
      toasts.error(errorText(e))
      return false
    }
  }

  /** Called on each edit of the composer: tells the friend we are typing, and when we stop. */
  edited(empty: boolean): void {
    const client = this.client
    const peer = this.peer
    if (client === undefined || peer === undefined) return
    if (empty) {
      this.stopTyping()
      return
    }
    if (this.myTyping?.peer !== peer) {
      this.stopTyping()
      client.setTyping(peer, true).catch(() => undefined)
    } else {
      clearTimeout(this.myTyping.timer)
    }
    this.myTyping = { peer, timer: setTimeout(() => this.stopTyping(), typingIdleMs) }
  }

  private stopTyping(): void {
    const mine = this.myTyping
    if (mine === undefined) return
    clearTimeout(mine.timer)
    this.myTyping = undefined
    this.client?.setTyping(mine.peer, false).catch(() => undefined)
  }

  private onMessage(m: Message): void {
    if (m.author !== this.client?.username) this.setTyping(m.author, false)
    if (this.peer === undefined || m.conversationId !== directConversationId(this.peer)) return
    const newest = this.messages.at(-1)
    const oldest = this.messages[0]
    const isNew = !this.messages.some((x) => x.id === m.id)
    // A receipt for a message older than the loaded page must not open a gap in the list.
    if (isNew && this.hasOlder && oldest !== undefined && byTime(m, oldest) < 0) return
    this.messages = merge(this.messages, [m])
    if (isNew && (newest === undefined || byTime(newest, m) < 0)) this.appended++
    if (isNew && m.state === 'received') this.markRead()
  }

  private setTyping(peer: string, typing: boolean): void {
    clearTimeout(this.typingTimers.get(peer))
    this.typingTimers.delete(peer)
    if (!typing) {
      this.typing.delete(peer)
      return
    }
    this.typing.add(peer)
    this.typingTimers.set(
      peer,
      setTimeout(() => this.setTyping(peer, false), typingStaleMs),
    )
  }

  /** Marks the open chat read while the page is visible; bursts of messages make one call. */
  private markRead(): void {
    const client = this.client
    const peer = this.peer
    if (client === undefined || peer === undefined || document.visibilityState !== 'visible') return
    if (this.marking !== undefined) {
      this.markAgain = true
      return
    }
    this.marking = client
      .markRead(peer)
      .catch((e: unknown) => console.warn('marking read failed', e))
      .finally(() => {
        this.marking = undefined
        if (this.markAgain) {
          this.markAgain = false
          this.markRead()
        }
      })
  }
}

export const chatState = new ChatState()
