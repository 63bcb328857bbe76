import type { GroupErrorEvent, GroupView, TincanClient, Conversation } from '../../../../core/index.ts'
import { limits } from '../../../../../shared/index.ts'
import { SvelteSet } from 'svelte/reactivity'
import { groupEventSentence } from '../error-texts.ts'
import { errorText } from '../errors.ts'
import { say, t } from '../i18n/i18n.svelte.ts'
import { friendsState } from './friends.svelte.ts'
import { toasts } from './toasts.svelte.ts'

/** A group as the chat list shows one, with its conversation once a message was sent or received. */
export interface GroupRow {
  readonly group: GroupView
  readonly conversation: Conversation | undefined
}

export const maxGroupNameLength = limits.groupNameMaxLength
export const maxGroupMembers = limits.groupMaxMembers

// U+2068 and U+2069, by code: Svelte warns about the characters themselves in its files.
const firstStrongIsolate = String.fromCharCode(0x2068)
const popDirectionalIsolate = String.fromCharCode(0x2069)

/**
 * A name put into a sentence that is shown as plain text (a toast, a notification, a label):
 * first-strong isolate marks keep its bidi controls from reordering the words around it.
 * In the DOM, names sit in their own element with `dir="auto"` instead.
 */
export function isolate(name: string): string {
  return firstStrongIsolate + name + popDirectionalIsolate
}

/**
 * The user's groups: their signed member lists as this device verified them, the group
 * conversations' unread counts, and the admin's and members' actions.
 */
class GroupsState {
  groups = $state.raw<readonly GroupView[]>([])
  /** Group ids with an action in flight, so their buttons can be disabled. */
  readonly pending = new SvelteSet<string>()
  /** A group is being created. */
  creating = $state(false)

  rows: readonly GroupRow[] = $derived.by(() => {
    const byId = new Map(friendsState.conversations.filter((c) => c.kind === 'group').map((c) => [c.id, c]))
    return this.groups.map((group) => ({ group, conversation: byId.get(group.conversationId) }))
  })

  totalUnread: number = $derived(this.rows.reduce((n, row) => n + (row.conversation?.unread ?? 0), 0))

  private client: TincanClient | undefined
  private off: (() => void)[] = []

  attach(client: TincanClient): void {
    this.client = client
    this.groups = client.groups
    this.off = [
      client.on('groups', (groups) => (this.groups = groups)),
      client.on('group-removed', ({ name, by }) =>
        toasts.info(t('group.removedToast', { name: isolate(name), by })),
      ),
      client.on('group-error', (e) => this.refused(e)),
    ]
  }

  detach(): void {
    for (const off of this.off) off()
    this.off = []
    this.client = undefined
    this.groups = []
    this.pending.clear()
    this.creating = false
  }

  group(groupId: string): GroupView | undefined {
    return this.groups.find((g) => g.id === groupId)
  }

  row(groupId: string): GroupRow | undefined {
    return this.rows.find((r) => r.group.id === groupId)
  }

  private refused(e: GroupErrorEvent): void {
    console.warn(`group ${e.groupId}: ${e.code}: ${e.message}`)
    const sentence = groupEventSentence(e, isolate(this.group(e.groupId)?.name ?? e.groupId))
    if (sentence !== undefined) toasts.error(say(sentence))
  }

  /** Creates the group with the user as its admin; the new group, or undefined (with a toast). */
  async create(name: string, members: readonly string[]): Promise<GroupView | undefined> {
    const client = this.client
    if (client === undefined || this.creating) return undefined
    this.creating = true
    try {
      return await client.createGroup(name.trim(), members)
    } catch (e: unknown) {
      toasts.error(errorText(e))
      return undefined
    } finally {
      this.creating = false
    }
  }

  /** Runs an action on one group with its buttons disabled; reports failures as a toast. */
  private async act(groupId: string, action: (c: TincanClient) => Promise<unknown>): Promise<boolean> {
    const client = this.client
    if (client === undefined || this.pending.has(groupId)) return false
    this.pending.add(groupId)
    try {
      await action(client)
      return true
    } catch (e: unknown) {
      toasts.error(errorText(e))
      return false
    } finally {
      this.pending.delete(groupId)
    }
  }

  addMembers(groupId: string, usernames: readonly string[]): Promise<boolean> {
    return this.act(groupId, (c) => c.addGroupMembers(groupId, usernames))
  }

  removeMember(groupId: string, username: string): Promise<boolean> {
    return this.act(groupId, (c) => c.removeGroupMembers(groupId, [username]))
  }

  rename(groupId: string, name: string): Promise<boolean> {
    return this.act(groupId, (c) => c.renameGroup(groupId, name.trim()))
  }

  leave(groupId: string): Promise<boolean> {
    return this.act(groupId, (c) => c.leaveGroup(groupId))
  }
}

export const groupsState = new GroupsState()
