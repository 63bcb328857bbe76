import { groupConversationId, type TincanClient } from '../../../../core/client.ts'
import { groupOfConversation } from '../../../../core/groups/groups.ts'
import type { Message } from '../../../../core/store/history.ts'
import { peerLimits } from '../../../../../shared/index.ts'
import { SvelteMap } from 'svelte/reactivity'
import { coalesced } from '../coalesce.ts'
import { t } from '../i18n/i18n.svelte.ts'
import { filesState } from './files.svelte.ts'
import { groupErrorText } from './groups.svelte.ts'
import { MessageWindow } from './message-window.svelte.ts'
import { toasts } from './toasts.svelte.ts'
import { OwnTyping, Typists } from './typing.svelte.ts'

/** The open group conversation: its messages, paging, sending, typing both ways and read marking. */
class GroupChatState {
  groupId = $state<string | undefined>()
  /** The messages shown, paged at both ends. */
  readonly list = new MessageWindow({ errorText: groupErrorText, onLatest: () => this.markRead() })

  private client: TincanClient | undefined
  private off: (() => void)[] = []
  /** Per group, the members typing there (kept for every group, so opening one shows it at once). */
  private readonly typing = new SvelteMap<string, Typists>()
  private readonly myTyping = new OwnTyping((groupId, typing) => this.client?.setGroupTyping(groupId, typing))
  private sending: Promise<unknown> = Promise.resolve()

  attach(client: TincanClient): void {
    this.client = client
    const onVisible = () => this.markRead()
    document.addEventListener('visibilitychange', onVisible)
    this.off = [
      client.on('message', (m) => this.onMessage(m)),
      client.on('group-typing', (e) => this.setTyping(e.groupId, e.username, e.typing)),
      () => document.removeEventListener('visibilitychange', onVisible),
    ]
  }

  detach(): void {
    for (const off of this.off) off()
    this.off = []
    this.client = undefined
    this.close()
    this.clearTyping()
  }

  /** Opens a group at its newest messages, or around `focus` (a message id) with that message highlighted. */
  async open(groupId: string, focus?: string): Promise<void> {
    const client = this.client
    if (client === undefined) return
    if (this.groupId === groupId) {
      if (focus !== undefined) await this.list.focus(focus)
      return
    }
    this.myTyping.stop()
    filesState.releaseImages()
    this.groupId = groupId
    await this.list.show(client, groupConversationId(groupId), focus)
    this.markRead()
  }

  close(): void {
    this.myTyping.stop()
    filesState.releaseImages()
    this.groupId = undefined
    this.list.clear()
  }

  /** The pane of `groupId` went away: stop following it, unless another group is open already. */
  release(groupId: string): void {
    if (this.groupId === groupId) this.close()
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
    this.myTyping.stop()
    try {
      await this.list.showLatest()
      this.onMessage(await client.sendGroupText(groupId, body))
      return true
    } catch (e: unknown) {
      toasts.error(groupErrorText(e))
      return false
    }
  }

  /** Members typing in `groupId` right now, in the order they started. */
  typists(groupId: string): readonly string[] {
    return this.typing.get(groupId)?.all ?? []
  }

  /** Called on each edit of the composer: tells the group's members we are typing, and when we stop. */
  edited(empty: boolean): void {
    if (this.client !== undefined && this.groupId !== undefined) this.myTyping.edited(this.groupId, empty)
  }

  /** Typing indicators were switched off: no one is shown typing. */
  clearTyping(): void {
    for (const typists of this.typing.values()) typists.clear()
    this.typing.clear()
  }

  private setTyping(groupId: string, username: string, typing: boolean): void {
    let typists = this.typing.get(groupId)
    if (typists === undefined) {
      if (!typing) return
      typists = new Typists()
      this.typing.set(groupId, typists)
    }
    typists.set(username, typing)
  }

  private onMessage(m: Message): void {
    const groupId = groupOfConversation(m.conversationId)
    if (groupId !== undefined && m.author !== this.client?.username) this.setTyping(groupId, m.author, false)
    if (this.list.add(m) && m.state === 'received') this.markRead()
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
