import {
  createMemberList,
  nextMemberList,
  toBase64Url,
  utf8Encode,
  type GroupMember,
  type Identity,
} from '../../../crypto/index.ts'
import { limits, type GroupLeaveFrame } from '../../../shared/index.ts'
import type { Api } from '../api.ts'
import type { ContactRecord } from '../store/db.ts'
import type { GroupContext } from './context.ts'
import { GroupError } from './errors.ts'
import type { LiveGroup } from './group-store.ts'
import type { GroupLinks } from './links.ts'
import type { MemberLists } from './member-lists.ts'
import type { GroupView } from './types.ts'

function blobOf(value: unknown): string {
  return toBase64Url(utf8Encode(JSON.stringify(value)))
}

export interface GroupAdminOptions {
  readonly identity: Identity
  readonly api: Pick<Api, 'createGroup' | 'updateMembers' | 'renameGroup' | 'leaveGroup'>
  /** A friend's pinned key, if any (trust.ts). */
  readonly contact: (username: string) => Promise<ContactRecord | undefined>
  readonly lists: Pick<MemberLists, 'adopt' | 'applyList' | 'forget'>
  readonly links: Pick<GroupLinks, 'connect'>
  /** The group's view; GroupError 'not-found' when there is none. */
  readonly requireView: (groupId: string) => GroupView
}

/**
 * The user's actions on groups: create, add, remove, rename (the admin signs the next member
 * list, which the server records), and leave; and the admin's side of a member's leave.
 */
export class GroupAdmin {
  constructor(
    private readonly c: GroupContext,
    private readonly o: GroupAdminOptions,
  ) {}

  private async member(username: string): Promise<GroupMember> {
    const c = await this.o.contact(username)
    if (c === undefined || c.pendingKey !== null)
      throw new GroupError('not-friend', `${username} is not a friend with an accepted key`)
    return { id: username, identityKey: c.identityKey, admin: false }
  }

  private get signer(): { id: string; identityKey: Identity['identityKey'] } {
    return { id: this.c.me, identityKey: this.o.identity.identityKey }
  }

  /**
   * Creates a group of friends with the user as its admin: the server records it, then the
   * signed member list (version 0) goes to the server and to every member.
   * @throws GroupError 'invalid', 'too-many', 'not-friend'; ApiError from the server.
   */
  async create(name: string, members: readonly string[]): Promise<GroupView> {
    await this.c.loaded()
    if (name.trim().length === 0 || name.length > limits.groupNameMaxLength)
      throw new GroupError('invalid', `a group name has 1 to ${limits.groupNameMaxLength} characters`)
    const others = [...new Set(members)].filter((u) => u !== this.c.me)
    if (others.length + 1 > limits.groupMaxMembers)
      throw new GroupError('too-many', `a group has at most ${limits.groupMaxMembers} members`)
    const listed = await Promise.all(others.map((u) => this.member(u)))
    // The server makes the id the signed list must name: create, then attach the list.
    const created = await this.o.api.createGroup({
      name,
      members: others,
      memberList: blobOf({ pending: true }),
    })
    const list = createMemberList(created.id, this.signer, listed, name)
    await this.c.run(created.id, () => this.o.lists.adopt(created.id, [list], undefined, false))
    await this.o.api.renameGroup(created.id, name, blobOf(list))
    return this.o.requireView(created.id)
  }

  private adminGroup(groupId: string): LiveGroup {
    const g = this.c.groups.get(groupId)
    if (g === undefined) throw new GroupError('not-found', 'no such group')
    if (!g.active) throw new GroupError('not-member', 'you are no longer in this group')
    if (!g.chain.isAdmin(this.c.me)) throw new GroupError('not-admin', 'only the admin can do that')
    return g
  }

  /** Signs the next member list, has the server record it, and applies it here. */
  private async changeMembers(g: LiveGroup, members: readonly GroupMember[]): Promise<void> {
    const next = nextMemberList(g.chain.head, this.signer, members)
    await this.o.api.updateMembers(g.id, {
      members: next.members.map((m) => ({ username: m.id, role: m.admin ? 'admin' : 'member' })),
      memberList: blobOf(next),
    })
    await this.o.lists.applyList(g, [next], undefined)
  }

  /**
   * Adds friends to a group (admin only). Everyone's sender keys are replaced, so the new members
   * can read only what is sent from now on.
   * @throws GroupError 'not-found', 'not-member', 'not-admin', 'not-friend', 'too-many'; ApiError.
   */
  async addMembers(groupId: string, usernames: readonly string[]): Promise<GroupView> {
    await this.c.run(groupId, async () => {
      const g = this.adminGroup(groupId)
      const fresh = [...new Set(usernames)].filter((u) => !g.chain.isMember(u))
      if (fresh.length === 0) return
      if (g.chain.members.length + fresh.length > limits.groupMaxMembers)
        throw new GroupError('too-many', `a group has at most ${limits.groupMaxMembers} members`)
      const added = await Promise.all(fresh.map((u) => this.member(u)))
      await this.changeMembers(g, [...g.chain.members, ...added])
    })
    return this.o.requireView(groupId)
  }

  /**
   * Removes members (admin only). Every remaining member replaces its sender key, so the removed
   * ones cannot read anything sent after this; they are told with the signed list.
   * @throws GroupError 'not-found', 'not-member', 'not-admin', 'invalid' (removing oneself: leave instead); ApiError.
   */
  async removeMembers(groupId: string, usernames: readonly string[]): Promise<GroupView> {
    await this.c.run(groupId, async () => {
      const g = this.adminGroup(groupId)
      const gone = new Set(usernames.filter((u) => g.chain.isMember(u)))
      if (gone.has(this.c.me)) throw new GroupError('invalid', 'the admin leaves with leaveGroup')
      if (gone.size === 0) return
      await this.changeMembers(
        g,
        g.chain.members.filter((m) => !gone.has(m.id)),
      )
    })
    return this.o.requireView(groupId)
  }

  /**
   * Renames a group (admin only). The name is in the signed list: a rename is its next version,
   * with the same members and the new name, which the server records (with the name it shows)
   * and members verify like any other version. A name from the server alone is never shown.
   * @throws GroupError 'not-found', 'not-member', 'not-admin', 'invalid'; ApiError.
   */
  async rename(groupId: string, name: string): Promise<GroupView> {
    if (name.trim().length === 0 || name.length > limits.groupNameMaxLength)
      throw new GroupError('invalid', `a group name has 1 to ${limits.groupNameMaxLength} characters`)
    await this.c.run(groupId, async () => {
      const g = this.adminGroup(groupId)
      if (g.name === name) return
      const next = nextMemberList(g.chain.head, this.signer, g.chain.members, name)
      await this.o.api.renameGroup(groupId, name, blobOf(next))
      await this.o.lists.applyList(g, [next], undefined)
    })
    this.c.changed()
    return this.o.requireView(groupId)
  }

  /**
   * Leaves a group: the server stops listing the user, this device forgets the group's keys at
   * once, and the admin is asked to sign a list without the user. The history stays.
   * @throws GroupError 'not-found', 'not-member', 'admin-cannot-leave' (while others remain); ApiError.
   */
  async leave(groupId: string): Promise<void> {
    await this.c.run(groupId, async () => {
      const g = this.c.groups.get(groupId)
      if (g === undefined) throw new GroupError('not-found', 'no such group')
      if (!g.active) throw new GroupError('not-member', 'you are no longer in this group')
      const admin = g.chain.isAdmin(this.c.me)
      if (admin && g.chain.members.length > 1)
        throw new GroupError('admin-cannot-leave', 'the admin signs every change: remove the others first')
      await this.o.api.leaveGroup(groupId)
      g.state = 'left'
      g.leavePending = !admin
      await this.o.lists.forget(g)
      if (g.leavePending) {
        const creator = g.chain.creator
        if (this.c.transport.isOpen(creator)) this.c.out.frame(creator, { type: 'group-leave', g: g.id })
        else this.o.links.connect(creator)
      }
    })
    this.c.changed()
  }

  /** A member asks the admin (us) to sign a list without them. */
  async onLeave(peer: string, frame: GroupLeaveFrame): Promise<void> {
    const g = this.c.groups.get(frame.g)
    if (g?.active !== true || !g.chain.isAdmin(this.c.me) || !g.chain.isMember(peer) || peer === this.c.me)
      return
    const rest = g.chain.members.filter((m) => m.id !== peer)
    await this.changeMembers(g, rest)
  }
}
