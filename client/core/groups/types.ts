import type { Message } from '../store/history.ts'
import type { GroupState, LiveGroup } from './group-store.ts'
import type { GroupTypingEvent } from './signals.ts'

// What the group layer shows the UI and the client facade: views, events, conversation ids.

/** A member as the UI shows one. */
export interface GroupMemberView {
  readonly username: string
  readonly admin: boolean
  readonly me: boolean
  /** The server reports them online. */
  readonly online: boolean
  /** An encrypted connection to them is open now. */
  readonly connected: boolean
  /**
   * The key this device holds for them (a friend's pinned key, or the one their open connection
   * proved) is not the one the signed member list gives them: they get nothing from this device.
   */
  readonly keyMismatch: boolean
}

/**
 * A group as the UI shows one. Membership and name are the admin-signed member list this device
 * verified; `serverView` compares it with what the server claims.
 */
export interface GroupView {
  readonly id: string
  /** The history conversation of the group: `group:<id>`. */
  readonly conversationId: string
  /** The name in the newest verified member list; the server's is never shown. */
  readonly name: string
  /** The creator, who signs every member list (the one admin). */
  readonly admin: string
  readonly isAdmin: boolean
  readonly members: readonly GroupMemberView[]
  /** `removed`: the admin took this user off the list; `left`: the user left. Both read-only. */
  readonly state: GroupState
  /** Who removed this user, when `state` is `removed`. */
  readonly removedBy?: string
  /** Version of the signed member list. */
  readonly version: number
  /**
   * `agrees`; `differs` when the server lists someone the signed list does not (ignored, and
   * reported as a `group-error`), misses someone (a leave the admin has not signed yet) or gives
   * another name (ignored);
   * `missing` when the server no longer lists the group for this user; `unknown` before the
   * server's list arrived.
   */
  readonly serverView: 'agrees' | 'differs' | 'missing' | 'unknown'
}

/** A group as the UI sees it now: who is online and connected, and what the server says of it. */
export function groupView(
  g: LiveGroup,
  me: string,
  online: ReadonlySet<string>,
  isOpen: (peer: string) => boolean,
  serverView: GroupView['serverView'],
  keyMismatch: (peer: string) => boolean,
): GroupView {
  return {
    id: g.id,
    conversationId: groupConversationId(g.id),
    name: g.name,
    admin: g.chain.creator,
    isAdmin: g.chain.isAdmin(me),
    members: g.chain.members.map((m) => ({
      username: m.id,
      admin: m.admin,
      me: m.id === me,
      // The server's presence is a hint; an open, authenticated connection is proof.
      online: m.id === me || online.has(m.id) || isOpen(m.id),
      connected: m.id !== me && isOpen(m.id),
      keyMismatch: m.id !== me && keyMismatch(m.id),
    })),
    state: g.state,
    ...(g.removedBy === undefined ? {} : { removedBy: g.removedBy }),
    version: g.chain.version,
    serverView,
  }
}

export const groupErrorEventCodes = [
  /** The server lists members the signed member list does not have: they get nothing. */
  'server-membership',
  /** The server says this user is in a group whose signed member list does not name them. */
  'not-in-member-list',
  /** A member list that does not verify (signature, chain, or a different version with the same number). */
  'bad-member-list',
  /** A group whose creator is not a friend with an accepted key: not joined. */
  'untrusted-creator',
  /** Someone who is not in the signed member list sent group data: refused. */
  'not-a-member',
  /** A group message whose signature or encryption does not verify (altered in transit, or forged): dropped. */
  'forged-message',
  /** A sender key whose signature does not verify: dropped. */
  'forged-key',
  /**
   * A member list gives a friend another identity key than the one pinned, or a member's connection
   * proved another key than the list's: that member is left out.
   */
  'key-mismatch',
  /** The server claimed another key for a member than the signed member list gives: ignored. */
  'key-claim',
] as const
export type GroupErrorEventCode = (typeof groupErrorEventCodes)[number]

export interface GroupErrorEvent {
  readonly groupId: string
  readonly code: GroupErrorEventCode
  /** For the console: people are told by `code`. */
  readonly message: string
  /** The member whose connection delivered the refused data. */
  readonly peer?: string
  /** Members concerned (the ones the server added, a friend with another key). */
  readonly members?: readonly string[]
}

export interface GroupEvents extends Record<string, unknown> {
  groups: readonly GroupView[]
  /** A group message was added or changed state (conversation `group:<id>`). */
  message: Message
  /** The admin's signed list no longer has this user: the group is read-only from now on. */
  'group-removed': { groupId: string; name: string; by: string }
  'group-error': GroupErrorEvent
  /** A member is typing in a group, or stopped (not relayed: from connected members only). */
  'group-typing': GroupTypingEvent
}

export const groupConversationId = (groupId: string): `group:${string}` => `group:${groupId}`

/** The group of a group conversation; undefined for any other conversation. */
export function groupOfConversation(conversationId: string): string | undefined {
  return conversationId.startsWith('group:') ? conversationId.slice('group:'.length) : undefined
}
