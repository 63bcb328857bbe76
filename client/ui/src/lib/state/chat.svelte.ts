import type { TincanClient } from '../../../../core/client.ts'
import { directConversationId, type Message, type RemovedMessage } from '../../../../core/store/history.ts'
import { peerLimits } from '../../../../../shared/index.ts'
import { errorText } from '../errors.ts'
import { coalesced } from '../coalesce.ts'
import { t } from '../i18n/i18n.svelte.ts'
import { filesState } from './files.svelte.ts'
import { MessageWindow } from './message-window.svelte.ts'
import { toasts } from './toasts.svelte.ts'
import { OwnTyping, Typists } from './typing.svelte.ts'

/** The open conversation: its messages, paging, typing both ways, read marking. */
class ChatState {
  peer = $state<string | undefined>()
  /** The messages shown, paged at both ends. */
  readonly list = new MessageWindow({ errorText, onLatest: () => this.markRead() })
  /** The composer answers this message (a quote bar shows above it). */
  replyTo = $state.raw<Message | undefined>()
  /** The composer edits this message of the user's instead of sending a new one. */
  editing = $state.raw<Message | undefined>()
  /** A deletion waiting for the user to confirm it. */
  pendingDelete = $state.raw<{ message: Message; everyone: boolean } | undefined>()
  confirmingDelete = $state(false)
  /** Friends typing right now. */
  readonly typing = new Typists()

  private client: TincanClient | undefined
  private off: (() => void)[] = []
  private readonly myTyping = new OwnTyping((peer, typing) => this.client?.setTyping(peer, typing))
  private sending: Promise<unknown> = Promise.resolve()

  attach(client: TincanClient): void {
    this.client = client
    const onVisible = () => this.markRead()
    document.addEventListener('visibilitychange', onVisible)
    this.off = [
      client.on('message', (m) => this.onMessage(m)),
      client.on('message-updated', (m) => this.onUpdated(m)),
      client.on('message-removed', (r) => this.onRemoved(r)),
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
    this.replyTo = undefined
    this.editing = undefined
    this.pendingDelete = undefined
    this.confirmingDelete = false
  }

  /**
   * Sends the text (as a reply when one is being written), or saves the edit being made; false
   * (with a toast) if it could not be done. Sends run one after another, so messages typed
   * quickly still go out in order.
   */
  send(text: string): Promise<boolean> {
    const run = this.sending.then(() =>
      this.editing === undefined ? this.sendNow(text) : this.saveEdit(text),
    )
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
    this.myTyping.stop()
    const replyTo = this.replyTo
    try {
      await this.list.showLatest()
      const m = await client.sendText(peer, body, replyTo === undefined ? undefined : { replyTo: replyTo.id })
      if (this.replyTo?.id === replyTo?.id) this.replyTo = undefined
      this.onMessage(m)
      return true
    } catch (e: unknown) {
      toasts.error(errorText(e))
      return false
    }
  }

  private async saveEdit(text: string): Promise<boolean> {
    const client = this.client
    const editing = this.editing
    const body = text.trim()
    if (client === undefined || editing === undefined || body === '') return false
    if (body.length > peerLimits.maxTextLength) {
      toasts.error(t('chat.tooLong', { max: peerLimits.maxTextLength }))
      return false
    }
    this.myTyping.stop()
    try {
      if (body !== editing.content.text) this.onUpdated(await client.editMessage(editing.id, body))
      if (this.editing?.id === editing.id) this.editing = undefined
      return true
    } catch (e: unknown) {
      toasts.error(errorText(e))
      return false
    }
  }

  // ---- message actions ----

  startReply(m: Message): void {
    this.editing = undefined
    this.replyTo = m
  }

  startEdit(m: Message): void {
    this.replyTo = undefined
    this.editing = m
  }

  /** Leaves reply or edit mode. */
  cancelCompose(): void {
    this.replyTo = undefined
    this.editing = undefined
  }

  /** The user's reaction: a different emoji replaces theirs, the same one takes it back. */
  async react(m: Message, emoji: string): Promise<void> {
    const client = this.client
    if (client === undefined) return
    const mine = m.content.reactions?.find((r) => r.author === client.username)
    try {
      this.onUpdated(await client.react(m.id, mine?.emoji === emoji ? '' : emoji))
    } catch (e: unknown) {
      toasts.error(errorText(e))
    }
  }

  async copy(m: Message): Promise<void> {
    try {
      await navigator.clipboard.writeText(m.content.text)
      toasts.info(t('chat.copied'))
    } catch {
      toasts.error(t('chat.copyFailed'))
    }
  }

  /** Asks before deleting (the confirm dialog in the chat pane shows `pendingDelete`). */
  askDelete(m: Message, everyone: boolean): void {
    this.pendingDelete = { message: m, everyone }
    this.confirmingDelete = true
  }

  async confirmDelete(): Promise<void> {
    const client = this.client
    const pending = this.pendingDelete
    this.pendingDelete = undefined
    this.confirmingDelete = false
    if (client === undefined || pending === undefined) return
    try {
      if (pending.everyone) this.onUpdated(await client.deleteForEveryone(pending.message.id))
      else if (await client.deleteForMe(pending.message.id))
        this.onRemoved({ id: pending.message.id, conversationId: pending.message.conversationId })
    } catch (e: unknown) {
      toasts.error(errorText(e))
    }
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

  /** An edit, a reaction, a deletion for everyone or a cleared quote: replace the message where it is shown. */
  private onUpdated(m: Message): void {
    if (this.editing?.id === m.id) this.editing = m.content.deleted === true ? undefined : m
    if (this.replyTo?.id === m.id) this.replyTo = m.content.deleted === true ? undefined : m
    this.list.update(m)
  }

  /** Deleted for me, or disappeared. */
  private onRemoved(r: RemovedMessage): void {
    if (this.editing?.id === r.id) this.editing = undefined
    if (this.replyTo?.id === r.id) this.replyTo = undefined
    this.list.remove(r.id)
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
