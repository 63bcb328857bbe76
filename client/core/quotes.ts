import { peerLimits, type ReplyQuote } from '../../shared/index.ts'
import { MessageActionError } from './action-error.ts'
import { shownFileName } from './files/file-name.ts'
import type { History, Message, MessageContent, Quote } from './store/history.ts'

/** The start of a text, cut between characters (never inside a surrogate pair). */
export function excerptOf(text: string, maxLength: number = peerLimits.maxQuoteExcerptLength): string {
  if (text.length <= maxLength) return text
  const cut = text.slice(0, maxLength)
  const last = cut.charCodeAt(cut.length - 1)
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut
}

/** What a quote of a message shows: its text, or a file's name as the app shows names (file-name.ts). */
function quotedText(content: MessageContent): string {
  return excerptOf(content.file === undefined ? content.text : shownFileName(content.file.name).full)
}

/**
 * The quote a reply carries: who wrote the answered message and the start of its text.
 * @throws MessageActionError 'not-found' when it is not a message of the conversation, 'deleted' when it was deleted.
 */
export async function quoteFor(history: History, conversationId: string, id: string): Promise<ReplyQuote> {
  const quoted = await history.get(id)
  if (quoted === undefined || quoted.conversationId !== conversationId)
    throw new MessageActionError('not-found', 'the message to reply to is not in this conversation')
  if (quoted.content.deleted === true || quoted.type === 'timer')
    throw new MessageActionError('deleted', 'a deleted message cannot be quoted')
  return { id, author: quoted.author, excerpt: quotedText(quoted.content) }
}

/** A quote of a message this device does not have: shown as "original message not found", naming no one. */
export const missingQuote = (id: string): Quote => ({ id, author: '', excerpt: '', missing: true })

/**
 * A received reply's quote (one-to-one or group), taken from this device's own copy of the
 * answered message: the `author` and `excerpt` the sender put in the reply are never shown, so no
 * one can put words in anyone's mouth. A message deleted for everyone shows as a deleted quote of
 * its author; one this device does not have (never came, deleted for me, disappeared, a timer
 * line, or a message of another conversation) as "original message not found".
 */
export async function receivedQuote(
  history: History,
  conversationId: string,
  quote: ReplyQuote,
): Promise<Quote> {
  const quoted = await history.get(quote.id)
  return quoted === undefined || quoted.conversationId !== conversationId
    ? missingQuote(quote.id)
    : ownQuote(quoted)
}

/** How a reply here quotes `quoted`, one of this device's own messages of the same conversation. */
export function ownQuote(quoted: Message): Quote {
  if (quoted.type === 'timer') return missingQuote(quoted.id)
  if (quoted.content.deleted === true)
    return { id: quoted.id, author: quoted.author, excerpt: '', deleted: true }
  return { id: quoted.id, author: quoted.author, excerpt: quotedText(quoted.content) }
}
