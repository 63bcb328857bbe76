import {
  groupConversationId,
  groupOfConversation,
  type TincanClient,
  type Message,
} from '../../../../core/index.ts'
import { SvelteMap } from 'svelte/reactivity'
import { coalesced } from '../coalesce.ts'
import { errorText } from '../errors.ts'
import { filesState } from './files.svelte.ts'
import { groupsState } from './groups.svelte.ts'
import { MessageActions } from './message-actions.svelte.ts'
import { MessageWindow } from './message-window.svelte.ts'
import { OwnTyping, Typists } from './typing.svelte.ts'

/** The open group conversation: its messages, paging, sending, typing both ways and read marking. */
class GroupChatState {
  groupId = $state<string | undefined>()
  /** The messages shown, paged at both ends. */
  readonly list = new MessageWindow({ errorText, onLatest: () => this.markRead() })
  /** Sending, replying, reacting, editing and deleting in the open group; once out of it, only reading. */
  readonly actions: MessageActions = new MessageActions({
    list: this.list,
    client: () => this.client,
    errorText,
    post: (client, text, replyTo) => {
      if (this.groupId === undefined) return undefined
      return client.sendGroupText(this.groupId, text, replyTo === undefined ? undefined : { replyTo })
    },
    stopTyping: () => this.myTyping.stop(),
    sent: (m) => this.onMessage(m),
    writable: () => this.groupId !== undefined && groupsState.group(this.groupId)?.state === 'active',
  })

  private client: TincanClient | undefined
  private off: (() => void)[] = []
  /** Per group, the members typing there (kept for every group, so opening one shows it at once). */
  private readonly typing = new SvelteMap<string, Typists>()
  private readonly myTyping = new OwnTyping((groupId, typing) => this.client?.setGroupTyping(groupId, typing))

  attach(client: TincanClient): void {
    this.client = client
    const onVisible = () => this.markRead()
    document.addEventListener('visibilitychange', onVisible)
    this.off = [
      client.on('message', (m) => this.onMessage(m)),
      client.on('message-updated', (m) => this.actions.updated(m)),
      client.on('message-removed', (r) => this.actions.removed(r)),
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
    this.actions.reset()
    await this.list.show(client, groupConversationId(groupId), focus)
    this.markRead()
  }

  close(): void {
    this.myTyping.stop()
    filesState.releaseImages()
    this.groupId = undefined
    this.list.clear()
    this.actions.reset()
  }

  /** The pane of `groupId` went away: stop following it, unless another group is open already. */
  release(groupId: string): void {
    if (this.groupId === groupId) this.close()
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
