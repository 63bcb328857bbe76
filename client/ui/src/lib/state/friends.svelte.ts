import type { FriendView, PeerErrorEvent, TincanClient, Conversation } from '../../../../core/index.ts'
import type { PendingRequests, PublicUser } from '../../../../../shared/index.ts'
import { SvelteSet } from 'svelte/reactivity'
import { peerErrorSentence } from '../error-texts.ts'
import { errorText } from '../errors.ts'
import { say, t } from '../i18n/i18n.svelte.ts'
import { OnceAWhile } from '../once-a-while.ts'
import { toasts } from './toasts.svelte.ts'

/** A friend as the chat list shows one: presence and trust, plus their conversation if any. */
export interface ContactRow {
  readonly friend: FriendView
  readonly conversation: Conversation | undefined
}

const noRequests: PendingRequests = { incoming: [], outgoing: [] }

/** The list with `changed` put in (replacing its old self), still the latest first. */
function withConversation(list: readonly Conversation[], changed: Conversation): Conversation[] {
  const rest = list.filter((c) => c.id !== changed.id)
  const at = rest.findIndex((c) => c.lastMessageAt <= changed.lastMessageAt)
  rest.splice(at === -1 ? rest.length : at, 0, changed)
  return rest
}

/** A warning about one friend's connections is repeated at most this often. */
const peerWarningEveryMs = 10 * 60_000

/** Friends, requests, conversations and blocks of the signed-in account. */
class FriendsState {
  friends = $state.raw<readonly FriendView[]>([])
  requests = $state.raw<PendingRequests>(noRequests)
  conversations = $state.raw<readonly Conversation[]>([])
  blocked = $state.raw<readonly string[]>([])
  /** Usernames with an action in flight, so their buttons can be disabled. */
  readonly pending = new SvelteSet<string>()

  contacts: readonly ContactRow[] = $derived.by(() => {
    const byPeer = new Map(this.conversations.filter((c) => c.kind === 'direct').map((c) => [c.peer, c]))
    return this.friends
      .map((friend) => ({ friend, conversation: byPeer.get(friend.username) }))
      .sort(
        (a, b) =>
          (b.conversation?.lastMessageAt ?? 0) - (a.conversation?.lastMessageAt ?? 0) ||
          a.friend.username.localeCompare(b.friend.username),
      )
  })

  /** Unread messages from current friends (a removed friend's chat is not listed, so not counted). */
  totalUnread: number = $derived(this.contacts.reduce((n, row) => n + (row.conversation?.unread ?? 0), 0))

  private client: TincanClient | undefined
  private off: (() => void)[] = []
  private peerWarnings = new OnceAWhile(peerWarningEveryMs)

  attach(client: TincanClient): void {
    this.client = client
    this.peerWarnings = new OnceAWhile(peerWarningEveryMs)
    this.off = [
      client.on('friends', (f) => (this.friends = f)),
      client.on('requests', (r) => (this.requests = r)),
      client.on('conversations', (c) => (this.conversations = c)),
      client.on('conversation', (c) => (this.conversations = withConversation(this.conversations, c))),
      client.on('key-changed', ({ username }) => toasts.error(t('toast.keyChanged', { name: username }))),
      client.on('peer-error', (e) => this.peerRefused(e)),
    ]
    this.requests = client.requests
    this.reload(client).catch((e: unknown) => toasts.error(errorText(e)))
  }

  /** A refused connection or change: told once a while when it matters, else only logged. */
  private peerRefused(e: PeerErrorEvent): void {
    const sentence = peerErrorSentence(e)
    console.warn(`connection to ${e.peer} refused (${e.code}): ${e.message}`)
    if (sentence === undefined) return
    if (this.peerWarnings.due(`${e.peer}\n${sentence.key}`)) toasts.error(say(sentence))
  }

  private async reload(client: TincanClient): Promise<void> {
    const [friends, conversations] = await Promise.all([client.friendViews(), client.conversations()])
    if (this.client !== client) return
    this.friends = friends
    this.conversations = conversations
  }

  detach(): void {
    for (const off of this.off) off()
    this.off = []
    this.client = undefined
    this.friends = []
    this.requests = noRequests
    this.conversations = []
    this.blocked = []
    this.pending.clear()
  }

  /** The one-to-one conversation with a friend, if it has started. */
  conversationWith(username: string): Conversation | undefined {
    return this.conversations.find((c) => c.kind === 'direct' && c.peer === username)
  }

  friend(username: string): FriendView | undefined {
    return this.friends.find((f) => f.username === username)
  }

  isFriend(username: string): boolean {
    return this.friends.some((f) => f.username === username)
  }

  /** Users whose name starts with `prefix`; on failure, a toast and an empty list. */
  async search(prefix: string): Promise<PublicUser[]> {
    const client = this.client
    if (client === undefined) return []
    try {
      return await client.searchUsers(prefix)
    } catch (e: unknown) {
      toasts.error(errorText(e))
      return []
    }
  }

  /** Runs an action for one user with its buttons disabled; reports failures as a toast. */
  private async act(username: string, action: (c: TincanClient) => Promise<void>): Promise<boolean> {
    const client = this.client
    if (client === undefined || this.pending.has(username)) return false
    this.pending.add(username)
    try {
      await action(client)
      return true
    } catch (e: unknown) {
      toasts.error(errorText(e))
      return false
    } finally {
      this.pending.delete(username)
    }
  }

  sendRequest(username: string): Promise<boolean> {
    return this.act(username, async (c) => {
      const status = await c.sendFriendRequest(username)
      toasts.success(
        t(status === 'accepted' ? 'friends.nowFriends' : 'friends.requestSent', { name: username }),
      )
    })
  }

  accept(username: string): Promise<boolean> {
    return this.act(username, async (c) => {
      await c.acceptFriendRequest(username)
      toasts.success(t('friends.nowFriends', { name: username }))
    })
  }

  decline(username: string): Promise<boolean> {
    return this.act(username, (c) => c.declineFriendRequest(username))
  }

  cancel(username: string): Promise<boolean> {
    return this.act(username, (c) => c.cancelFriendRequest(username))
  }

  remove(username: string): Promise<boolean> {
    return this.act(username, (c) => c.removeFriend(username))
  }

  block(username: string): Promise<boolean> {
    return this.act(username, async (c) => {
      await c.blockUser(username)
      this.blocked = [...new Set([...this.blocked, username])]
    })
  }

  unblock(username: string): Promise<boolean> {
    return this.act(username, async (c) => {
      await c.unblockUser(username)
      this.blocked = this.blocked.filter((u) => u !== username)
    })
  }

  async loadBlocked(): Promise<void> {
    const client = this.client
    if (client === undefined) return
    try {
      this.blocked = await client.blockedUsers()
    } catch (e: unknown) {
      toasts.error(errorText(e))
    }
  }
}

export const friendsState = new FriendsState()
