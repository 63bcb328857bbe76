import type { GroupRole } from '../../shared/index.ts'

export interface UserRecord {
  readonly username: string
  readonly salt: string
  readonly kdfOps: number
  readonly kdfMem: number
  readonly authSalt: string
  readonly authHash: string
  readonly identityKey: string
  readonly keyBundle: string
  readonly createdAt: number
}

export interface SessionRecord {
  readonly id: string
  readonly username: string
  readonly tokenHash: string
  readonly userAgent: string
  readonly createdAt: number
  readonly lastSeenAt: number
  readonly expiresAt: number
}

export interface FriendRecord {
  readonly username: string
  readonly identityKey: string
  readonly since: number
}

export interface RequestRecord {
  readonly username: string
  readonly identityKey: string
  readonly note: string
  readonly createdAt: number
}

export interface GroupMemberRecord {
  readonly username: string
  readonly role: GroupRole
}

export interface GroupRecord {
  readonly id: string
  readonly name: string
  readonly memberList: string
  readonly version: number
  readonly createdAt: number
  readonly updatedAt: number
  readonly members: GroupMemberRecord[]
}

export type StorageErrorCode = 'conflict' | 'unavailable' | 'invalid'

/**
 * A storage failure the server turns into an answer: a conflict (409), storage unavailable
 * (503), or a value the database cannot store (400; the schemas refuse such values first).
 */
export class StorageError extends Error {
  override readonly name = 'StorageError'
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/**
 * Everything the server keeps. Implemented once over Kysely for SQLite and PostgreSQL.
 * Usernames passed in are canonical (lower case).
 */
export interface Storage {
  readonly dialect: 'sqlite' | 'postgres'
  migrate(): Promise<void>
  close(): Promise<void>
  /** Cheap round trip to the database, for /healthz. */
  ping(): Promise<void>
  /**
   * Makes deleted data leave the disk where the engine allows it: SQLite (which overwrites
   * deleted content, `secure_delete`) checkpoints and empties its WAL; PostgreSQL leaves it to
   * VACUUM (docs/DEPLOY.md).
   */
  compact(): Promise<void>

  getMeta(key: string): Promise<string | undefined>
  /** Insert if absent; returns the stored value (another node may have won the race). */
  initMeta(key: string, value: string): Promise<string>

  /** Throws StorageError('conflict') when the username exists. */
  createUser(user: UserRecord): Promise<void>
  getUser(username: string): Promise<UserRecord | undefined>
  /** Another user whose name reads like this one (signaling/look-alike.ts), if any. */
  lookAlike(username: string): Promise<string | undefined>
  searchUsers(
    prefix: string,
    limit: number,
    exclude: string,
  ): Promise<{ username: string; identityKey: string }[]>
  updateCredentials(
    username: string,
    creds: Pick<UserRecord, 'salt' | 'kdfOps' | 'kdfMem' | 'authSalt' | 'authHash' | 'keyBundle'>,
  ): Promise<void>
  updateIdentity(username: string, identityKey: string, keyBundle: string): Promise<void>
  /** Removes the user and everything that refers to them (sessions, friends, requests, blocks, memberships). */
  deleteUser(username: string): Promise<void>

  createSession(session: SessionRecord): Promise<void>
  getSessionByTokenHash(tokenHash: string): Promise<SessionRecord | undefined>
  touchSession(id: string, lastSeenAt: number): Promise<void>
  /** The same for many sessions in one statement (per chunk): the sockets of a reconnect wave. */
  touchSessions(ids: readonly string[], lastSeenAt: number): Promise<void>
  listSessions(username: string): Promise<SessionRecord[]>
  /** Returns whether a session of that user existed. */
  deleteSession(username: string, id: string): Promise<boolean>
  /** Deletes every session of the user except `keepId`; returns the deleted ids. */
  deleteOtherSessions(username: string, keepId: string): Promise<string[]>
  deleteExpiredSessions(now: number): Promise<number>
  /** Which of these session ids still exist (the periodic socket check, issue 15 D2). */
  liveSessionIds(ids: readonly string[]): Promise<Set<string>>

  getRequest(from: string, to: string): Promise<{ note: string; createdAt: number } | undefined>
  putRequest(from: string, to: string, note: string, createdAt: number): Promise<void>
  deleteRequest(from: string, to: string): Promise<boolean>
  listIncoming(username: string): Promise<RequestRecord[]>
  listOutgoing(username: string): Promise<RequestRecord[]>

  /** Makes the two friends and drops any requests between them, atomically. */
  addFriendship(a: string, b: string, createdAt: number): Promise<void>
  removeFriendship(a: string, b: string): Promise<boolean>
  areFriends(a: string, b: string): Promise<boolean>
  listFriends(username: string): Promise<FriendRecord[]>
  friendNames(username: string): Promise<string[]>

  /** Blocks `blocked`, and removes friendship and requests between them, atomically. */
  block(blocker: string, blocked: string, createdAt: number): Promise<void>
  unblock(blocker: string, blocked: string): Promise<boolean>
  isBlocked(blocker: string, blocked: string): Promise<boolean>
  listBlocked(blocker: string): Promise<string[]>
  /** Everyone the user blocked or who blocked the user. */
  blockPartners(username: string): Promise<string[]>

  createGroup(group: GroupRecord): Promise<void>
  getGroup(id: string): Promise<GroupRecord | undefined>
  listGroups(username: string): Promise<GroupRecord[]>
  /** At most `limit` of the user's groups by creation time then id, starting after `after`. */
  listGroupsPage(
    username: string,
    after: { readonly createdAt: number; readonly id: string } | undefined,
    limit: number,
  ): Promise<GroupRecord[]>
  /** How many groups each of these users is a member of (0 for none). */
  groupCounts(usernames: readonly string[]): Promise<Map<string, number>>
  /**
   * Replaces name, members and signed member list if the stored version is still `expectedVersion`;
   * throws StorageError('conflict') otherwise, so two admins cannot overwrite each other.
   */
  updateGroup(
    id: string,
    expectedVersion: number,
    update: { name: string; memberList: string; members: readonly GroupMemberRecord[]; updatedAt: number },
  ): Promise<void>
  deleteGroup(id: string): Promise<void>
  shareGroup(a: string, b: string): Promise<boolean>
  /** Everyone who shares at least one group with the user. */
  groupPeers(username: string): Promise<string[]>
}
