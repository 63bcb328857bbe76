import type { Conversation } from './store/history.ts'

export interface ConversationChangesOptions {
  /** Reads one conversation as the list shows it (History.conversation). */
  readonly read: (conversationId: string) => Promise<Conversation | undefined>
  readonly emit: (conversation: Conversation) => void
  readonly background: (work: Promise<unknown>) => void
  readonly closed: () => boolean
}

/**
 * Tells the screen which conversations changed — a message came, moved on (sent, delivered,
 * read), was edited or went, or the conversation was read — so that their preview, unread count
 * and time are shown anew. Each changed conversation is read once per turn of the event loop,
 * however many messages touched it, and no other is read: reading and opening every
 * conversation's preview for every message made a busy chat cost more with each conversation the
 * user has, four times per message sent (issue 17).
 */
export class ConversationChanges {
  private readonly due = new Set<string>()

  constructor(private readonly o: ConversationChangesOptions) {}

  changed(conversationId: string): void {
    if (this.due.size === 0) setTimeout(() => this.flush(), 0)
    this.due.add(conversationId)
  }

  private flush(): void {
    const ids = [...this.due]
    this.due.clear()
    if (this.o.closed()) return
    for (const id of ids)
      this.o.background(
        this.o.read(id).then((conversation) => {
          if (conversation !== undefined && !this.o.closed()) this.o.emit(conversation)
        }),
      )
  }
}
