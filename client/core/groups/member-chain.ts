import {
  CryptoError,
  equalBytes,
  fromBase64Url,
  memberListHash,
  toBase64Url,
  verifyMemberListUpdate,
  type GroupMember,
  type SignedMemberList,
} from '../../../crypto/index.ts'

/** What one accepted version changed. */
export interface ListChange {
  readonly version: number
  readonly added: readonly string[]
  readonly removed: readonly string[]
}

/**
 * A group's admin-signed member list as the whole hash chain from version 0, verified link by
 * link (crypto/group-member-list.ts). Version 0 must be signed by the creator with the key this
 * device pinned for them; nothing the server says about membership enters here.
 */
export class MemberChain {
  private readonly versions: SignedMemberList[]
  private readonly hashes: Uint8Array[]
  private readonly sets: Set<string>[]

  private constructor(versions: SignedMemberList[]) {
    this.versions = versions
    this.hashes = versions.map((v) => memberListHash(v))
    this.sets = versions.map((v) => new Set(v.members.map((m) => m.id)))
  }

  /**
   * Verifies a chain from version 0 whose creator (the signer of version 0) has `creatorKey`.
   * @throws CryptoError as `verifyMemberListUpdate` ('bad-chain', 'not-admin', 'untrusted-key', 'bad-signature', 'bad-format').
   */
  static verify(chain: readonly unknown[], creatorKey: Uint8Array): MemberChain {
    const out: SignedMemberList[] = []
    let previous: SignedMemberList | null = null
    for (const raw of chain) {
      previous = verifyMemberListUpdate(previous, raw, creatorKey)
      out.push(previous)
    }
    if (out.length === 0) throw new CryptoError('bad-chain', 'empty member list chain')
    return new MemberChain(out)
  }

  /** A chain stored on this device (verified when it was accepted, and verified again here). */
  static restore(chain: readonly unknown[]): MemberChain {
    const first = chain[0] as SignedMemberList | undefined
    const creator = first?.members.find((m) => m.id === first.signer)
    if (first === undefined || creator === undefined) throw new CryptoError('bad-chain', 'no creator')
    return MemberChain.verify(chain, fromBase64Url(creator.identityKey, 32))
  }

  get groupId(): string {
    return this.head.groupId
  }

  get head(): SignedMemberList {
    return this.versions[this.versions.length - 1] as SignedMemberList
  }

  get version(): number {
    return this.head.version
  }

  get hash(): string {
    return toBase64Url(this.hashes[this.hashes.length - 1] as Uint8Array)
  }

  /** The creator: the signer of version 0, the one admin of a Tincan group. */
  get creator(): string {
    return (this.versions[0] as SignedMemberList).signer
  }

  get members(): readonly GroupMember[] {
    return this.head.members
  }

  get all(): readonly SignedMemberList[] {
    return this.versions
  }

  /** Versions after `version` (all of them for −1). */
  after(version: number): SignedMemberList[] {
    return this.versions.slice(Math.max(0, version + 1))
  }

  hashOf(version: number): string | undefined {
    const h = this.hashes[version]
    return h === undefined ? undefined : toBase64Url(h)
  }

  isMember(user: string, version = this.version): boolean {
    return this.sets[version]?.has(user) ?? false
  }

  /** In any version, now or before (those are told about later versions). */
  everMember(user: string): boolean {
    return this.sets.some((s) => s.has(user))
  }

  isAdmin(user: string): boolean {
    return this.head.members.some((m) => m.id === user && m.admin)
  }

  member(user: string, version = this.version): GroupMember | undefined {
    return this.versions[version]?.members.find((m) => m.id === user)
  }

  /**
   * Verifies versions that may overlap what is held: versions already held must be the same
   * ones (else 'bad-chain': a fork), new ones must extend the head. Returns the changes, oldest
   * first; the chain is unchanged when anything fails.
   * @throws CryptoError as `verifyMemberListUpdate`.
   */
  extend(suffix: readonly unknown[]): ListChange[] {
    const fresh: SignedMemberList[] = []
    let head = this.head
    for (const raw of suffix) {
      const version = (raw as { version?: unknown } | null)?.version
      if (typeof version === 'number' && version <= head.version && fresh.length === 0) {
        const held = this.versions[version]
        const sig = (raw as { sig?: unknown }).sig
        if (held === undefined || held.sig !== sig)
          throw new CryptoError('bad-chain', `a different version ${version} of the member list`)
        continue
      }
      head = verifyMemberListUpdate(head, raw)
      fresh.push(head)
    }
    const changes: ListChange[] = []
    for (const next of fresh) {
      const before = this.sets[this.sets.length - 1] as Set<string>
      const after = new Set(next.members.map((m) => m.id))
      changes.push({
        version: next.version,
        added: [...after].filter((u) => !before.has(u)),
        removed: [...before].filter((u) => !after.has(u)),
      })
      this.versions.push(next)
      this.hashes.push(memberListHash(next))
      this.sets.push(after)
    }
    return changes
  }

  /**
   * Whether `key` is the identity key the newest version naming `user` gives them (a former
   * member is checked against the list they were last in).
   */
  lastKeyMatches(user: string, key: Uint8Array): boolean {
    for (let v = this.versions.length - 1; v >= 0; v--) {
      const m = this.member(user, v)
      if (m !== undefined) return equalBytes(fromBase64Url(m.identityKey, 32), key)
    }
    return false
  }
}
