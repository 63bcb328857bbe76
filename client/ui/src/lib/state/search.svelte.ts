import {
  groupOfConversation,
  peerOfConversation,
  type TincanClient,
  type SearchHit,
} from '../../../../core/index.ts'
import { errorText } from '../errors.ts'
import { toasts } from './toasts.svelte.ts'

/** Typing pauses this long before the history is searched. */
const debounceMs = 200
const maxHits = 50

/** The hits of one conversation, newest first: a chat with a friend (`peer`) or a group (`groupId`). */
export type SearchGroup =
  | {
      readonly kind: 'direct'
      readonly conversationId: string
      readonly peer: string
      readonly hits: SearchHit[]
    }
  | {
      readonly kind: 'group'
      readonly conversationId: string
      readonly groupId: string
      readonly hits: SearchHit[]
    }

/**
 * Search across all conversations, as the sidebar shows it: the query, the hits grouped by
 * conversation (the conversation with the newest hit first). Runs on this device only, over the
 * history's blind index; a slower answer to an older query never replaces a newer one.
 */
class SearchState {
  query = $state('')
  groups = $state.raw<readonly SearchGroup[]>([])
  searching = $state(false)
  /** The query the shown groups answer (so "no results" is not said for a query still running). */
  answered = $state('')

  private client: TincanClient | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private runs = 0

  get active(): boolean {
    return this.query.trim() !== ''
  }

  attach(client: TincanClient): void {
    this.client = client
  }

  detach(): void {
    this.client = undefined
    this.clear()
  }

  /** Called as the user types. */
  set(query: string): void {
    this.query = query
    clearTimeout(this.timer)
    if (query.trim() === '') {
      this.runs++
      this.groups = []
      this.answered = ''
      this.searching = false
      return
    }
    this.searching = true
    this.timer = setTimeout(() => void this.run(query), debounceMs)
  }

  clear(): void {
    this.set('')
  }

  private async run(query: string): Promise<void> {
    const client = this.client
    if (client === undefined) return
    const run = ++this.runs
    try {
      const hits = await client.search(query, { limit: maxHits })
      if (run !== this.runs) return
      this.groups = group(hits)
      this.answered = query
    } catch (e: unknown) {
      if (run === this.runs) toasts.error(errorText(e))
    } finally {
      if (run === this.runs) this.searching = false
    }
  }
}

/** Hits by conversation, in the order of each conversation's newest hit (hits come newest first). */
function group(hits: readonly SearchHit[]): SearchGroup[] {
  const out: SearchGroup[] = []
  for (const hit of hits) {
    const id = hit.message.conversationId
    const existing = out.find((x) => x.conversationId === id)
    if (existing !== undefined) {
      existing.hits.push(hit)
      continue
    }
    const peer = peerOfConversation(id)
    const groupId = groupOfConversation(id)
    if (peer !== undefined) out.push({ kind: 'direct', conversationId: id, peer, hits: [hit] })
    else if (groupId !== undefined) out.push({ kind: 'group', conversationId: id, groupId, hits: [hit] })
  }
  return out
}

export const searchState = new SearchState()
