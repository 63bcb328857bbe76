import type { TincanClient, Message, RemovedMessage } from '../../../../core/index.ts'
import { peerLimits } from '../../../../../shared/index.ts'
import { t } from '../i18n/i18n.svelte.ts'
import type { MessageWindow } from './message-window.svelte.ts'
import { toasts } from './toasts.svelte.ts'

export interface MessageActionsDeps {
  /** The messages shown: changed messages are replaced in it, a quote clicked is looked up in it. */
  readonly list: MessageWindow
  /** The client while the user is signed in. */
  readonly client: () => TincanClient | undefined
  /** What the user is told when an action failed. */
  readonly errorText: (e: unknown) => string
  /**
   * Sends a new text to the open conversation, as a reply to `replyTo` (a message id) when
   * given; undefined when no conversation is open.
   */
  readonly post: (
    client: TincanClient,
    text: string,
    replyTo: string | undefined,
  ) => Promise<Message> | undefined
  /** A message was sent or an edit saved: the user stopped typing. */
  readonly stopTyping: () => void
  /** The message just sent from here, to be shown. */
  readonly sent: (m: Message) => void
  /** False while the user can only read (a group they are no longer in). */
  readonly writable?: () => boolean
}

/**
 * What the user does with the messages of an open chat or group: send, reply with a quote,
 * react, edit or delete their own for everyone, delete for themselves, copy. It holds the
 * composer's mode (replying to or editing a message) and the deletion waiting for a yes.
 */
export class MessageActions {
  /** The composer answers this message (a quote bar shows above it). */
  replyTo = $state.raw<Message | undefined>()
  /** The composer edits this message of the user's instead of sending a new one. */
  editing = $state.raw<Message | undefined>()
  /** A deletion waiting for the user to confirm it. */
  pendingDelete = $state.raw<{ message: Message; everyone: boolean } | undefined>()
  confirmingDelete = $state(false)

  private sending: Promise<unknown> = Promise.resolve()

  constructor(private readonly deps: MessageActionsDeps) {}

  get list(): MessageWindow {
    return this.deps.list
  }

  /** Whether the user may send, reply, react, edit and delete for everyone here. */
  get writable(): boolean {
    return this.deps.writable?.() ?? true
  }

  /** Another conversation was opened, or none is: nothing is being answered, edited or deleted. */
  reset(): void {
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
    const client = this.deps.client()
    if (client === undefined) return
    const mine = m.content.reactions?.find((r) => r.author === client.username)
    try {
      this.updated(await client.react(m.id, mine?.emoji === emoji ? '' : emoji))
    } catch (e: unknown) {
      toasts.error(this.deps.errorText(e))
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

  /** Asks before deleting (the pane's confirm dialog shows `pendingDelete`). */
  askDelete(m: Message, everyone: boolean): void {
    this.pendingDelete = { message: m, everyone }
    this.confirmingDelete = true
  }

  async confirmDelete(): Promise<void> {
    const client = this.deps.client()
    const pending = this.pendingDelete
    this.pendingDelete = undefined
    this.confirmingDelete = false
    if (client === undefined || pending === undefined) return
    const { message, everyone } = pending
    try {
      if (everyone) this.updated(await client.deleteForEveryone(message.id))
      else if (await client.deleteForMe(message.id))
        this.removed({ id: message.id, conversationId: message.conversationId })
    } catch (e: unknown) {
      toasts.error(this.deps.errorText(e))
    }
  }

  /** An edit, a reaction, a deletion for everyone or a cleared quote: replace the message where it is shown. */
  updated(m: Message): void {
    if (this.editing?.id === m.id) this.editing = m.content.deleted === true ? undefined : m
    if (this.replyTo?.id === m.id) this.replyTo = m.content.deleted === true ? undefined : m
    this.list.update(m)
  }

  /** Deleted for me, or disappeared. */
  removed(r: RemovedMessage): void {
    if (this.editing?.id === r.id) this.editing = undefined
    if (this.replyTo?.id === r.id) this.replyTo = undefined
    this.list.remove(r.id)
  }

  /** The text to send, trimmed; undefined (with a toast when too long) if there is none to send. */
  private body(text: string): string | undefined {
    const body = text.trim()
    if (body === '') return undefined
    if (body.length > peerLimits.maxTextLength) {
      toasts.error(t('chat.tooLong', { max: peerLimits.maxTextLength }))
      return undefined
    }
    return body
  }

  private async sendNow(text: string): Promise<boolean> {
    const client = this.deps.client()
    const body = this.body(text)
    if (client === undefined || body === undefined) return false
    this.deps.stopTyping()
    const replyTo = this.replyTo
    try {
      await this.list.showLatest()
      const sending = this.deps.post(client, body, replyTo?.id)
      if (sending === undefined) return false
      const m = await sending
      if (this.replyTo?.id === replyTo?.id) this.replyTo = undefined
      this.deps.sent(m)
      return true
    } catch (e: unknown) {
      toasts.error(this.deps.errorText(e))
      return false
    }
  }

  private async saveEdit(text: string): Promise<boolean> {
    const client = this.deps.client()
    const editing = this.editing
    const body = this.body(text)
    if (client === undefined || editing === undefined || body === undefined) return false
    this.deps.stopTyping()
    try {
      if (body !== editing.content.text) this.updated(await client.editMessage(editing.id, body))
      if (this.editing?.id === editing.id) this.editing = undefined
      return true
    } catch (e: unknown) {
      toasts.error(this.deps.errorText(e))
      return false
    }
  }
}
