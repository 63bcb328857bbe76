import { groupConversationId, type TincanClient } from '../../../../core/client.ts'
import type { Message } from '../../../../core/store/history.ts'
import { peerLimits } from '../../../../../shared/index.ts'
import { coalesced } from '../coalesce.ts'
import { t } from '../i18n/i18n.svelte.ts'
import { byTime, mergeMessages as merge } from '../message-order.ts'
import { filesState } from './files.svelte.ts'
import { groupErrorText } from './groups.svelte.ts'
import { toasts } from './toasts.svelte.ts'

const pageSize = 50

/** The open group conversation: its messages, paging, sending and read marking. */
class GroupChatState {
  groupId = $state<string | undefined>()
  messages = $state.raw<readonly Message[]>([])
  loaded = $state(false)
  hasOlder = $state(false)
  loadingOlder = $state(false)
  /** Counts messages added at the newest end, so the list knows when to follow. */
  appended = $state(0)

  private client: TincanClient | undefined
  private off: (() => void)[] = []
  private sending: Promise<unknown> = Promise.resolve()

  attach(client: TincanClient): void {
    this.client = client
    const onVisible = () => this.markRead()
    document.addEventListener('visibilitychange', onVisible)
    this.off = [
      client.on('message', (m) => this.onMessage(m)),
      () => document.removeEventListener('visibilitychange', onVisible),
    ]
  }

  detach(): void {
    for (const off of this.off) off()
    this.off = []
    this.client = undefined
    this.close()
  }

  async open(groupId: string): Promise<void> {
    const client = this.client
    if (client === undefined || this.groupId === groupId) return
    filesState.releaseImages()
    this.groupId = groupId
    this.reset()
    try {
      const page = await client.loadMessages(groupConversationId(groupId), undefined, pageSize)
      if (this.groupId !== groupId) return
      // Messages that arrived while the page was read are kept.
      this.messages = merge(this.messages, page)
      this.hasOlder = page.length === pageSize
    } catch (e: unknown) {
      toasts.error(groupErrorText(e))
    } finally {
      if (this.groupId === groupId) this.loaded = true
    }
    this.markRead()
  }

  close(): void {
    filesState.releaseImages()
    this.groupId = undefined
    this.reset()
  }

  /** The pane of `groupId` went away: stop following it, unless another group is open already. */
  release(groupId: string): void {
    if (this.groupId === groupId) this.close()
  }

  private reset(): void {
    this.messages = []
    this.loaded = false
    this.hasOlder = false
    this.loadingOlder = false
  }

  async loadOlder(): Promise<void> {
    const client = this.client
    const groupId = this.groupId
    const oldest = this.messages[0]
    if (client === undefined || groupId === undefined || !this.hasOlder || this.loadingOlder) return
    if (oldest === undefined) return
    this.loadingOlder = true
    try {
      const page = await client.loadMessages(groupConversationId(groupId), oldest.sentAt, pageSize)
      if (this.groupId !== groupId) return
      this.messages = merge(this.messages, page)
      this.hasOlder = page.length === pageSize
    } catch (e: unknown) {
      toasts.error(groupErrorText(e))
    } finally {
      this.loadingOlder = false
    }
  }

  /**
   * Sends a text to the open group; false (with a toast) if it could not be sent. Sends run one
   * after another, so messages typed quickly still go out in order.
   */
  send(text: string): Promise<boolean> {
    const run = this.sending.then(() => this.sendNow(text))
    this.sending = run.catch(() => undefined)
    return run
  }

  private async sendNow(text: string): Promise<boolean> {
    const client = this.client
    const groupId = this.groupId
    const body = text.trim()
    if (client === undefined || groupId === undefined || body === '') return false
    if (body.length > peerLimits.maxTextLength) {
      toasts.error(t('chat.tooLong', { max: peerLimits.maxTextLength }))
      return false
    }
    try {
      this.onMessage(await client.sendGroupText(groupId, body))
      return true
    } catch (e: unknown) {
      toasts.error(groupErrorText(e))
      return false
    }
  }

  private onMessage(m: Message): void {
    if (this.groupId === undefined || m.conversationId !== groupConversationId(this.groupId)) return
    const newest = this.messages.at(-1)
    const oldest = this.messages[0]
    const isNew = !this.messages.some((x) => x.id === m.id)
    // A message older than the loaded page (caught up late) is loaded when scrolled to.
    if (isNew && this.hasOlder && oldest !== undefined && byTime(m, oldest) < 0) return
    this.messages = merge(this.messages, [m])
    if (isNew && (newest === undefined || byTime(newest, m) < 0)) this.appended++
    if (isNew && m.state === 'received') this.markRead()
  }

  /** Marks the open group read while the page is visible; bursts of messages make one call. */
  private readonly markRead = coalesced(() => {
    const client = this.client
    const groupId = this.groupId
    if (client === undefined || groupId === undefined || document.visibilityState !== 'visible')
      return undefined
    return client.markGroupRead(groupId).catch((e: unknown) => console.warn('marking read failed', e))
  })
}

export const groupChatState = new GroupChatState()
