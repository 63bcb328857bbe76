import {
  conversationTarget,
  type ConversationId,
  type Message,
  type TincanClient,
} from '../../../../core/index.ts'
import { SvelteMap } from 'svelte/reactivity'
import { coalesced } from '../coalesce.ts'
import { errorText } from '../errors.ts'
import { filesState } from './files.svelte.ts'
import { groupsState } from './groups.svelte.ts'
import { MessageActions } from './message-actions.svelte.ts'
import { MessageWindow } from './message-window.svelte.ts'
import { toasts } from './toasts.svelte.ts'
import { OwnTyping, Typists } from './typing.svelte.ts'

/**
 * The open conversation — a friend's chat or a group, the same to this state: its messages, paging
 * at both ends, sending, replying, reacting, editing and deleting, typing both ways and read
 * marking. Once the user is out of a group, only reading is left.
 */
class ConversationState {
  conversationId = $state<ConversationId | undefined>()
  /** The messages shown, paged at both ends. */
  readonly list = new MessageWindow({ errorText, onLatest: () => this.markRead() })
  readonly actions: MessageActions = new MessageActions({
    list: this.list,
    client: () => this.client,
    errorText,
    post: (client, text, replyTo) => {
      if (this.conversationId === undefined) return undefined
      return client.sendText(this.conversationId, text, replyTo === undefined ? undefined : { replyTo })
    },
    stopTyping: () => this.myTyping.stop(),
    sent: (m) => this.onMessage(m),
    writable: () => {
      const target = this.conversationId === undefined ? undefined : conversationTarget(this.conversationId)
      return target?.kind !== 'group' || groupsState.group(target.groupId)?.state === 'active'
    },
  })

  private client: TincanClient | undefined
  private off: (() => void)[] = []
  /** Per conversation, who is typing there (kept for every one, so opening one shows it at once). */
  private readonly typing = new SvelteMap<string, Typists>()
  private readonly myTyping = new OwnTyping<ConversationId>((to, typing) =>
    this.client?.setTyping(to, typing),
  )

  attach(client: TincanClient): void {
    this.client = client
    const onVisible = () => this.markRead()
    document.addEventListener('visibilitychange', onVisible)
    this.off = [
      client.on('message', (m) => this.onMessage(m)),
      client.on('message-updated', (m) => this.actions.updated(m)),
      client.on('message-removed', (r) => this.actions.removed(r)),
      client.on('typing', (e) => this.setTyping(e.conversationId, e.username, e.typing)),
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

  /** Opens a conversation at its newest messages, or around `focus` (a message id) with that message highlighted. */
  async open(conversationId: ConversationId, focus?: string): Promise<void> {
    const client = this.client
    if (client === undefined) return
    if (this.conversationId === conversationId) {
      if (focus !== undefined) await this.list.focus(focus)
      return
    }
    this.myTyping.stop()
    filesState.releaseImages()
    this.conversationId = conversationId
    this.list.clear()
    this.actions.reset()
    const target = conversationTarget(conversationId)
    // A friend's chat opened: the connection to them is probably wanted soon.
    if (target?.kind === 'direct') client.connect(target.peer)
    await this.list.show(client, conversationId, focus)
    this.markRead()
  }

  close(): void {
    this.myTyping.stop()
    filesState.releaseImages()
    this.conversationId = undefined
    this.list.clear()
    this.actions.reset()
  }

  /** The pane of `conversationId` went away: stop following it, unless another one is open already. */
  release(conversationId: ConversationId): void {
    if (this.conversationId === conversationId) this.close()
  }

  /** Who is typing in `conversationId` right now, in the order they started. */
  typists(conversationId: ConversationId): readonly string[] {
    return this.typing.get(conversationId)?.all ?? []
  }

  /** Called on each edit of the composer: tells the friend or the group we are typing, and when we stop. */
  edited(empty: boolean): void {
    if (this.client !== undefined && this.conversationId !== undefined)
      this.myTyping.edited(this.conversationId, empty)
  }

  /** Typing indicators were switched off: no one is shown typing. */
  clearTyping(): void {
    for (const typists of this.typing.values()) typists.clear()
    this.typing.clear()
  }

  /** Sets the open chat's disappearing-message timer (0 = off) for both sides. */
  async setTimer(seconds: number): Promise<void> {
    const client = this.client
    const conversationId = this.conversationId
    if (client === undefined || conversationId === undefined) return
    try {
      await this.list.showLatest()
      this.onMessage(await client.setDisappearingTimer(conversationId, seconds))
    } catch (e: unknown) {
      toasts.error(errorText(e))
    }
  }

  private setTyping(conversationId: string, username: string, typing: boolean): void {
    let typists = this.typing.get(conversationId)
    if (typists === undefined) {
      if (!typing) return
      typists = new Typists()
      this.typing.set(conversationId, typists)
    }
    typists.set(username, typing)
  }

  private onMessage(m: Message): void {
    const own = m.author === this.client?.username
    if (!own) this.setTyping(m.conversationId, m.author, false)
    if (this.list.add(m, own) && m.state === 'received') this.markRead()
  }

  /** Marks the open conversation read while the page is visible; bursts of messages make one call. */
  private readonly markRead = coalesced(() => {
    const client = this.client
    const conversationId = this.conversationId
    if (client === undefined || conversationId === undefined || document.visibilityState !== 'visible')
      return undefined
    return client.markRead(conversationId).catch((e: unknown) => console.warn('marking read failed', e))
  })
}

export const conversationState = new ConversationState()
