/**
 * Tables as the query layer sees them. Every column is TEXT or a 64-bit integer so the same
 * migrations and queries run on SQLite and PostgreSQL. Users are keyed by their canonical
 * (lower-case) username, which never changes.
 */
export interface Database {
  meta: { key: string; value: string }
  users: {
    username: string
    salt: string
    kdf_ops: number
    kdf_mem: number
    auth_salt: string
    auth_hash: string
    identity_key: string
    key_bundle: string
    created_at: number
    updated_at: number
    /** `lookAlikeKey(username)`: names that read alike share it (signaling/look-alike.ts). */
    skeleton: string
  }
  sessions: {
    id: string
    username: string
    token_hash: string
    user_agent: string
    created_at: number
    last_seen_at: number
    expires_at: number
  }
  friend_requests: { from_user: string; to_user: string; note: string; created_at: number }
  /** One row per direction, so "friends of X" is a single indexed lookup. */
  friendships: { username: string; friend: string; created_at: number }
  blocks: { blocker: string; blocked: string; created_at: number }
  groups: {
    id: string
    name: string
    member_list: string
    version: number
    created_at: number
    updated_at: number
  }
  group_members: { group_id: string; username: string; role: 'admin' | 'member'; added_at: number }
}
