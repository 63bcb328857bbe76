import { peerLimits, type ReplyQuote } from '../../shared/index.ts'
import { MessageActionError } from './action-error.ts'
import type { History, Quote } from './store/history.ts'

/** The start of a text, cut between characters (never inside a surrogate pair). */
export function excerptOf(text: string, maxLength: number = peerLimits.maxQuoteExcerptLength): string {
  if (text.length <= maxLength) return text
  const cut = text.slice(0, maxLength)
  const last = cut.charCodeAt(cut.length - 1)
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut
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
  return { id, author: quoted.author, excerpt: excerptOf(quoted.content.text) }
}

/**
 * A received group reply's quote, from this device's own copy of the answered message: a member
 * cannot put words in another member's mouth. A message this device does not have (or no longer
 * has) is shown as a deleted quote, with no text.
 */
export async function groupQuote(
  history: History,
  conversationId: string,
  quote: ReplyQuote,
): Promise<Quote> {
  const quoted = await history.get(quote.id)
  if (quoted === undefined || quoted.conversationId !== conversationId || quoted.content.deleted === true)
    return {
      id: quote.id,
      author: quoted?.conversationId === conversationId ? quoted.author : quote.author,
      excerpt: '',
      deleted: true,
    }
  return { id: quote.id, author: quoted.author, excerpt: excerptOf(quoted.content.text) }
}
