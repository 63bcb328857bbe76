import { directConversationId, type TincanClient, type Message } from '../../../../core/index.ts'
import { errorText } from '../errors.ts'
import { coalesced } from '../coalesce.ts'
import { filesState } from './files.svelte.ts'
import { MessageActions } from './message-actions.svelte.ts'
import { MessageWindow } from './message-window.svelte.ts'
import { toasts } from './toasts.svelte.ts'
import { OwnTyping, Typists } from './typing.svelte.ts'

/** The open conversation: its messages, paging, typing both ways, read marking. */
class ChatState {
  peer = $state<string | undefined>()
  /** The messages shown, paged at both ends. */
  readonly list = new MessageWindow({ errorText, onLatest: () => this.markRead() })
  /** Sending, replying, reacting, editing and deleting in the open chat. */
  readonly actions: MessageActions = new MessageActions({
    list: this.list,
    client: () => this.client,
    errorText,
    post: (client, text, replyTo) => {
      if (this.peer === undefined) return undefined
      return client.sendText(this.peer, text, replyTo === undefined ? undefined : { replyTo })
    },
    stopTyping: () => this.myTyping.stop(),
    sent: (m) => this.onMessage(m),
  })
  /** Friends typing right now. */
  readonly typing = new Typists()

  private client: TincanClient | undefined
  private off: (() => void)[] = []
  private readonly myTyping = new OwnTyping((peer, typing) => this.client?.setTyping(peer, typing))

  attach(client: TincanClient): void {
    this.client = client
    const onVisible = () => this.markRead()
    document.addEventListener('visibilitychange', onVisible)
    this.off = [
      client.on('message', (m) => this.onMessage(m)),
      client.on('message-updated', (m) => this.actions.updated(m)),
      client.on('message-removed', (r) => this.actions.removed(r)),
      client.on('typing', ({ peer, typing }) => this.typing.set(peer, typing)),
      () => document.removeEventListener('visibilitychange', onVisible),
    ]
  }

  detach(): void {
    for (const off of this.off) off()
    this.off = []
    this.client = undefined
    this.close()
    this.typing.clear()
  }

  /** Opens a chat at its newest messages, or around `focus` (a message id) with that message highlighted. */
  async open(peer: string, focus?: string): Promise<void> {
    const client = this.client
    if (client === undefined) return
    if (this.peer === peer) {
      if (focus !== undefined) await this.list.focus(focus)
      return
    }
    this.myTyping.stop()
    filesState.releaseImages()
    this.peer = peer
    this.reset()
    client.connect(peer)
    await this.list.show(client, directConversationId(peer), focus)
    this.markRead()
  }

  close(): void {
    this.myTyping.stop()
    filesState.releaseImages()
    this.peer = undefined
    this.reset()
  }

  private reset(): void {
    this.list.clear()
    this.actions.reset()
  }

  /** Sets the open chat's disappearing-message timer (0 = off) for both sides. */
  async setTimer(seconds: number): Promise<void> {
    const client = this.client
    const peer = this.peer
    if (client === undefined || peer === undefined) return
    try {
      await this.list.showLatest()
      this.onMessage(await client.setDisappearingTimer(peer, seconds))
    } catch (e: unknown) {
      toasts.error(errorText(e))
    }
  }

  /** Called on each edit of the composer: tells the friend we are typing, and when we stop. */
  edited(empty: boolean): void {
    if (this.client !== undefined && this.peer !== undefined) this.myTyping.edited(this.peer, empty)
  }

  private onMessage(m: Message): void {
    if (m.author !== this.client?.username) this.typing.set(m.author, false)
    if (this.list.add(m) && m.state === 'received') this.markRead()
  }

  /** Marks the open chat read while the page is visible; bursts of messages make one call. */
  private readonly markRead = coalesced(() => {
    const client = this.client
    const peer = this.peer
    if (client === undefined || peer === undefined || document.visibilityState !== 'visible') return undefined
    return client.markRead(peer).catch((e: unknown) => console.warn('marking read failed', e))
  })
}

export const chatState = new ChatState()
