import { limits } from '../shared/limits.ts'
import { ByteWriter } from './binary-codec.ts'
import { equalBytes, fromBase64Url, toBase64Url } from './bytes.ts'
import { CryptoError } from './errors.ts'
import { sha256 } from './hkdf.ts'
import { ed25519Sign, ed25519Verify, type KeyPair } from './primitives.ts'

// A group's membership and name as a hash chain of signed versions. Version 0 is signed by the
// creator, who must be its first admin; each later version names the SHA-256 of the one
// before and is signed by somebody who was an admin in the one before. A rename is a new
// version (same members, new name): the name members show is the newest verified version's,
// never the server's.
//
// Signed bytes: lp(label) | lp(group id) | version u64 | previous hash (32) | lp(name) |
//   member count u32 | per member, sorted by id: lp(id) | identity key (32) | admin u8 |
//   lp(signer id)
// Hash of a version: SHA-256(signed bytes | signature).

const label = 'tincan/v1/group/member-list'
const zeroHash = new Uint8Array(32)

export interface GroupMember {
  readonly id: string
  /** Ed25519 identity key, base64url. */
  readonly identityKey: string
  readonly admin: boolean
}

/** One signed version of the member list (JSON-safe). */
export interface SignedMemberList {
  readonly v: 1
  readonly groupId: string
  readonly version: number
  /** base64url SHA-256 of the previous version; 32 zero bytes for version 0. */
  readonly prev: string
  /** The group's name: 1 to `limits.groupNameMaxLength` UTF-16 code units. */
  readonly name: string
  readonly members: readonly GroupMember[]
  readonly signer: string
  readonly sig: string
}

export interface MemberListSigner {
  readonly id: string
  readonly identityKey: KeyPair
}

function sortedMembers(members: readonly GroupMember[]): GroupMember[] {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.id === sorted[i - 1]?.id) throw new CryptoError('bad-format', 'duplicate member id')
  }
  return sorted
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > limits.groupNameMaxLength) {
    throw new CryptoError('bad-format', `a group name has 1 to ${limits.groupNameMaxLength} characters`)
  }
  return name
}

function signedBytes(list: Omit<SignedMemberList, 'sig' | 'v'>): Uint8Array {
  const w = new ByteWriter(512)
    .str(label)
    .str(list.groupId)
    .u64(list.version)
    .raw(fromBase64Url(list.prev, 32, 'prev'))
    .str(checkName(list.name))
    .u32(list.members.length)
  for (const m of list.members) {
    if (typeof m.id !== 'string' || m.id.length === 0 || typeof m.admin !== 'boolean') {
      throw new CryptoError('bad-format', 'bad member entry')
    }
    w.str(m.id)
      .raw(fromBase64Url(m.identityKey, 32, 'member identityKey'))
      .u8(m.admin ? 1 : 0)
  }
  return w.str(list.signer).finish()
}

/** SHA-256 of a version, as the next version's `prev` names it. */
export function memberListHash(list: SignedMemberList): Uint8Array {
  return sha256(signedBytes(list), fromBase64Url(list.sig, 64, 'sig'))
}

function sign(body: Omit<SignedMemberList, 'sig' | 'v'>, signer: MemberListSigner): SignedMemberList {
  return { v: 1, ...body, sig: toBase64Url(ed25519Sign(signer.identityKey.secretKey, signedBytes(body))) }
}

/**
 * Version 0, signed by the creator, who is added as an admin if not listed so.
 * @throws CryptoError 'bad-format' for duplicate ids, malformed keys or a bad name.
 */
export function createMemberList(
  groupId: string,
  creator: MemberListSigner,
  others: readonly GroupMember[],
  name: string,
): SignedMemberList {
  const self: GroupMember = {
    id: creator.id,
    identityKey: toBase64Url(creator.identityKey.publicKey),
    admin: true,
  }
  const members = sortedMembers([self, ...others.filter((m) => m.id !== creator.id)])
  return sign(
    { groupId, version: 0, prev: toBase64Url(zeroHash), name: checkName(name), members, signer: creator.id },
    creator,
  )
}

/**
 * The next version with a new member set and/or name (by default the previous one's), signed by
 * an admin of `previous`. A rename is a version with the same members and a new name.
 * @throws CryptoError 'not-admin' if the signer is not an admin of `previous` (with that key),
 * 'bad-format' for duplicate ids, malformed keys or a bad name.
 */
export function nextMemberList(
  previous: SignedMemberList,
  signer: MemberListSigner,
  members: readonly GroupMember[],
  name: string = previous.name,
): SignedMemberList {
  const admin = previous.members.find((m) => m.id === signer.id && m.admin)
  if (
    admin === undefined ||
    !equalBytes(fromBase64Url(admin.identityKey, 32), signer.identityKey.publicKey)
  ) {
    throw new CryptoError('not-admin', `${signer.id} is not an admin of version ${previous.version}`)
  }
  return sign(
    {
      groupId: previous.groupId,
      version: previous.version + 1,
      prev: toBase64Url(memberListHash(previous)),
      name: checkName(name),
      members: sortedMembers(members),
      signer: signer.id,
    },
    signer,
  )
}

function parse(raw: unknown): SignedMemberList {
  if (typeof raw !== 'object' || raw === null)
    throw new CryptoError('bad-format', 'member list is not an object')
  const o = raw as Record<string, unknown>
  const { groupId, version, prev, name, members, signer, sig } = o
  if (o['v'] !== 1) throw new CryptoError('bad-format', 'unknown member list version')
  if (
    typeof groupId !== 'string' ||
    typeof signer !== 'string' ||
    typeof prev !== 'string' ||
    typeof sig !== 'string'
  ) {
    throw new CryptoError('bad-format', 'member list field missing')
  }
  if (!Number.isSafeInteger(version) || (version as number) < 0)
    throw new CryptoError('bad-format', 'bad version')
  if (!Array.isArray(members)) throw new CryptoError('bad-format', 'members must be a list')
  const list: SignedMemberList = {
    v: 1,
    groupId,
    version: version as number,
    prev,
    name: checkName(name),
    members: members.map((m: unknown) => {
      const e = (m ?? {}) as Record<string, unknown>
      return { id: e['id'], identityKey: e['identityKey'], admin: e['admin'] } as GroupMember
    }),
    signer,
    sig,
  }
  const sorted = sortedMembers(list.members)
  if (sorted.some((m, i) => m.id !== list.members[i]?.id))
    throw new CryptoError('bad-format', 'members not sorted')
  return list
}

/**
 * Checks that `next` validly follows `previous` (or is a valid version 0 when `previous` is
 * null). For version 0 pass the creator's pinned key as `creatorKey` where known.
 * @throws CryptoError 'bad-format', 'bad-chain' (other group, version not previous + 1, or
 * wrong previous hash), 'not-admin' (signer not an admin of the previous version, or of
 * version 0 itself), 'untrusted-key' (version 0 not from the expected creator key),
 * 'bad-signature'.
 */
export function verifyMemberListUpdate(
  previous: SignedMemberList | null,
  nextRaw: unknown,
  creatorKey?: Uint8Array,
): SignedMemberList {
  const next = parse(nextRaw)
  const prevHash = fromBase64Url(next.prev, 32, 'prev')
  let authority: readonly GroupMember[]
  if (previous === null) {
    if (next.version !== 0 || !equalBytes(prevHash, zeroHash)) {
      throw new CryptoError('bad-chain', 'first member list must be version 0 with no previous hash')
    }
    authority = next.members
  } else {
    if (next.groupId !== previous.groupId) throw new CryptoError('bad-chain', 'member list of another group')
    if (next.version !== previous.version + 1)
      throw new CryptoError('bad-chain', 'member list version skipped')
    if (!equalBytes(prevHash, memberListHash(previous))) {
      throw new CryptoError('bad-chain', 'member list does not extend the previous version')
    }
    authority = previous.members
  }
  const admin = authority.find((m) => m.id === next.signer && m.admin)
  if (admin === undefined) throw new CryptoError('not-admin', `${next.signer} is not an admin`)
  const adminKey = fromBase64Url(admin.identityKey, 32, 'admin identityKey')
  if (previous === null && creatorKey !== undefined && !equalBytes(adminKey, creatorKey)) {
    throw new CryptoError('untrusted-key', 'version 0 is not signed by the group creator')
  }
  if (!ed25519Verify(fromBase64Url(next.sig, 64, 'sig'), signedBytes(next), adminKey)) {
    throw new CryptoError('bad-signature', 'member list signature does not verify')
  }
  return next
}

/**
 * Verifies a whole chain from version 0 and returns its last version.
 * @throws CryptoError as `verifyMemberListUpdate`, and 'bad-chain' for an empty chain.
 */
export function verifyMemberListChain(chain: readonly unknown[], creatorKey?: Uint8Array): SignedMemberList {
  let current: SignedMemberList | null = null
  for (const item of chain) current = verifyMemberListUpdate(current, item, creatorKey)
  if (current === null) throw new CryptoError('bad-chain', 'empty member list chain')
  return current
}
