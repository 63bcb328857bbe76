import { Type, type Static } from '@sinclair/typebox'
import { Base64Url32, Blob64, Id, Kdf, Salt, Text, Timestamp, Username } from './common.ts'
import { limits } from './limits.ts'

const strict = { additionalProperties: false } as const

// ---- accounts ----

export const PreloginRequest = Type.Object({ username: Username }, strict)
export type PreloginRequest = Static<typeof PreloginRequest>
export const PreloginResponse = Type.Object({ salt: Salt, kdf: Kdf }, strict)
export type PreloginResponse = Static<typeof PreloginResponse>

export const RegisterRequest = Type.Object(
  {
    username: Username,
    salt: Salt,
    kdf: Kdf,
    authKey: Base64Url32,
    identityKey: Base64Url32,
    keyBundle: Blob64(limits.keyBundleMaxLength),
  },
  strict,
)
export type RegisterRequest = Static<typeof RegisterRequest>

export const LoginRequest = Type.Object({ username: Username, authKey: Base64Url32 }, strict)
export type LoginRequest = Static<typeof LoginRequest>

export const SessionGrant = Type.Object(
  {
    token: Type.String({ minLength: 43, maxLength: 43 }),
    sessionId: Id,
    expiresAt: Timestamp,
    username: Username,
    identityKey: Base64Url32,
    keyBundle: Blob64(limits.keyBundleMaxLength),
  },
  strict,
)
export type SessionGrant = Static<typeof SessionGrant>

export const SessionInfo = Type.Object(
  {
    id: Id,
    createdAt: Timestamp,
    lastSeenAt: Timestamp,
    expiresAt: Timestamp,
    userAgent: Type.String({ maxLength: limits.userAgentMaxLength }),
    current: Type.Boolean(),
  },
  strict,
)
export type SessionInfo = Static<typeof SessionInfo>
export const SessionList = Type.Object({ sessions: Type.Array(SessionInfo) }, strict)
export type SessionList = Static<typeof SessionList>

export const SessionParams = Type.Object({ id: Id }, strict)
export type SessionParams = Static<typeof SessionParams>

export const ChangePasswordRequest = Type.Object(
  {
    authKey: Base64Url32,
    newAuthKey: Base64Url32,
    newSalt: Salt,
    newKdf: Kdf,
    newKeyBundle: Blob64(limits.keyBundleMaxLength),
  },
  strict,
)
export type ChangePasswordRequest = Static<typeof ChangePasswordRequest>

export const ResetIdentityRequest = Type.Object(
  { authKey: Base64Url32, identityKey: Base64Url32, keyBundle: Blob64(limits.keyBundleMaxLength) },
  strict,
)
export type ResetIdentityRequest = Static<typeof ResetIdentityRequest>

export const DeleteAccountRequest = Type.Object({ authKey: Base64Url32 }, strict)
export type DeleteAccountRequest = Static<typeof DeleteAccountRequest>

// ---- users and friends ----

export const UserSearchQuery = Type.Object(
  {
    prefix: Type.String({
      minLength: 1,
      maxLength: limits.searchPrefixMaxLength,
      pattern: '^[A-Za-z0-9_.-]+$',
    }),
  },
  strict,
)
export type UserSearchQuery = Static<typeof UserSearchQuery>

export const PublicUser = Type.Object({ username: Username, identityKey: Base64Url32 }, strict)
export type PublicUser = Static<typeof PublicUser>
export const UserSearchResponse = Type.Object({ users: Type.Array(PublicUser) }, strict)
export type UserSearchResponse = Static<typeof UserSearchResponse>

export const UsernameParams = Type.Object({ username: Username }, strict)
export type UsernameParams = Static<typeof UsernameParams>

export const Friend = Type.Object(
  { username: Username, identityKey: Base64Url32, online: Type.Boolean(), since: Timestamp },
  strict,
)
export type Friend = Static<typeof Friend>
export const FriendList = Type.Object({ friends: Type.Array(Friend) }, strict)
export type FriendList = Static<typeof FriendList>

export const FriendNote = Text({ maxLength: limits.friendNoteMaxLength })

export const FriendRequestBody = Type.Object({ to: Username, note: Type.Optional(FriendNote) }, strict)
export type FriendRequestBody = Static<typeof FriendRequestBody>

export const FriendRequestResult = Type.Object(
  { status: Type.Union([Type.Literal('pending'), Type.Literal('accepted')]) },
  strict,
)
export type FriendRequestResult = Static<typeof FriendRequestResult>

export const PendingRequest = Type.Object(
  { username: Username, identityKey: Base64Url32, note: FriendNote, createdAt: Timestamp },
  strict,
)
export type PendingRequest = Static<typeof PendingRequest>
export const PendingRequests = Type.Object(
  { incoming: Type.Array(PendingRequest), outgoing: Type.Array(PendingRequest) },
  strict,
)
export type PendingRequests = Static<typeof PendingRequests>

export const BlockBody = Type.Object({ username: Username }, strict)
export type BlockBody = Static<typeof BlockBody>
export const BlockList = Type.Object({ blocked: Type.Array(Username) }, strict)
export type BlockList = Static<typeof BlockList>

// ---- groups (metadata only; the signed member list is an opaque blob) ----

export const GroupRole = Type.Union([Type.Literal('admin'), Type.Literal('member')])
export type GroupRole = Static<typeof GroupRole>

export const GroupMember = Type.Object({ username: Username, role: GroupRole }, strict)
export type GroupMember = Static<typeof GroupMember>

export const GroupName = Text({ minLength: 1, maxLength: limits.groupNameMaxLength })
export const MemberListBlob = Blob64(limits.memberListMaxLength)

export const Group = Type.Object(
  {
    id: Id,
    name: GroupName,
    members: Type.Array(GroupMember),
    memberList: MemberListBlob,
    version: Type.Integer({ minimum: 1 }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  strict,
)
export type Group = Static<typeof Group>
/**
 * Where the next page of `GET /api/groups` starts: the creation time and id of the last group
 * of the page before (groups are listed by creation time, then id).
 */
export const GroupCursor = Type.String({ maxLength: 40, pattern: '^[0-9]{1,16}[.][A-Za-z0-9_-]{22}$' })
export const GroupListQuery = Type.Object({ after: Type.Optional(GroupCursor) }, strict)
export type GroupListQuery = Static<typeof GroupListQuery>

/** One page of the caller's groups; `next` is there when more follow. */
export const GroupListResponse = Type.Object(
  { groups: Type.Array(Group, { maxItems: limits.groupsPageSize }), next: Type.Optional(GroupCursor) },
  strict,
)
export type GroupListResponse = Static<typeof GroupListResponse>

export const CreateGroupRequest = Type.Object(
  {
    name: GroupName,
    members: Type.Array(Username, { maxItems: limits.groupMaxMembers - 1, uniqueItems: true }),
    memberList: MemberListBlob,
  },
  strict,
)
export type CreateGroupRequest = Static<typeof CreateGroupRequest>

export const GroupParams = Type.Object({ id: Id }, strict)
export type GroupParams = Static<typeof GroupParams>

/** Replace the member list (admins only): the server computes who was added and removed. */
export const UpdateMembersRequest = Type.Object(
  {
    members: Type.Array(GroupMember, { minItems: 1, maxItems: limits.groupMaxMembers }),
    memberList: MemberListBlob,
  },
  strict,
)
export type UpdateMembersRequest = Static<typeof UpdateMembersRequest>

export const RenameGroupRequest = Type.Object(
  { name: GroupName, memberList: Type.Optional(MemberListBlob) },
  strict,
)
export type RenameGroupRequest = Static<typeof RenameGroupRequest>

// ---- ICE ----

export const IceServer = Type.Object(
  {
    urls: Type.Array(Type.String({ maxLength: 256 })),
    username: Type.Optional(Type.String({ maxLength: 256 })),
    credential: Type.Optional(Type.String({ maxLength: 256 })),
  },
  strict,
)
export type IceServer = Static<typeof IceServer>
export const IceConfig = Type.Object(
  {
    iceServers: Type.Array(IceServer),
    iceTransportPolicy: Type.Union([Type.Literal('all'), Type.Literal('relay')]),
    expiresAt: Type.Optional(Timestamp),
  },
  strict,
)
export type IceConfig = Static<typeof IceConfig>

export const Health = Type.Object(
  { status: Type.Literal('ok'), uptimeS: Type.Number(), connections: Type.Integer() },
  strict,
)
export type Health = Static<typeof Health>
