import { fromBase64Url, utf8Decode } from '../../../crypto/index.ts'
import type { Group } from '../../../shared/index.ts'
import type { ContactRecord } from '../store/db.ts'
import type { GroupContext } from './context.ts'
import type { LiveGroup } from './group-store.ts'
import type { GroupLinks } from './links.ts'
import { versionOf, type MemberLists } from './member-lists.ts'
import type { GroupView } from './types.ts'

function parseBlob(blob: string): unknown {
  try {
    return JSON.parse(utf8Decode(fromBase64Url(blob))) as unknown
  } catch {
    return undefined
  }
}

export interface ServerGroupsOptions {
  /** A friend's pinned key, if any (trust.ts). */
  readonly contact: (username: string) => Promise<ContactRecord | undefined>
  readonly lists: Pick<MemberLists, 'adopt' | 'applyList'>
  readonly links: Pick<GroupLinks, 'connect' | 'connectNeighbors'>
}

/**
 * What the server says of the user's groups: a hint to fetch or apply signed member lists, and
 * something to compare them with. It never decides membership or a name.
 */
export class ServerGroups {
  private readonly server = new Map<string, Group>()
  private serverListed = false

  constructor(
    private readonly c: GroupContext,
    private readonly o: ServerGroupsOptions,
  ) {}

  /** Whether the server's members and name agree with the group's signed list (`GroupView`). */
  serverView(g: LiveGroup): GroupView['serverView'] {
    const s = this.server.get(g.id)
    if (s !== undefined) {
      const listed = new Set(s.members.map((m) => m.username))
      const signed = new Set(g.chain.members.map((m) => m.id))
      const same = listed.size === signed.size && [...listed].every((u) => signed.has(u)) && s.name === g.name
      return same ? 'agrees' : 'differs'
    }
    return this.serverListed ? 'missing' : 'unknown'
  }

  /** The server's list of the user's groups (at start and after reconnecting). */
  async serverGroups(list: readonly Group[]): Promise<void> {
    await this.c.loaded()
    const listed = new Set(list.map((g) => g.id))
    for (const id of [...this.server.keys()]) if (!listed.has(id)) this.server.delete(id)
    this.serverListed = true
    for (const group of list) await this.serverGroup(group)
    for (const g of this.c.groups.values()) if (g.active && !listed.has(g.id)) this.askAdmin(g)
    this.c.changed()
  }

  /**
   * The server's word on one group: its name, who it lists, and the newest signed member list.
   * Only the signed list decides membership and the name; the server's members and name are
   * compared with it (`serverView`), never shown.
   */
  async serverGroup(group: Group): Promise<void> {
    await this.c.loaded()
    this.server.set(group.id, group)
    const blob = parseBlob(group.memberList)
    const known = this.c.groups.get(group.id)
    if (known === undefined) {
      await this.c.run(group.id, () => this.joinFromServer(group, blob))
      this.c.changed()
      return
    }
    await this.c.run(group.id, async () => {
      const version = versionOf(blob)
      if (known.active && version === known.chain.version + 1)
        await this.o.lists.applyList(known, [blob], undefined)
      else if (known.active && version !== undefined && version > known.chain.version + 1)
        this.askAdmin(known)
      if (!known.active) return
      const extra = group.members.map((m) => m.username).filter((u) => !known.chain.isMember(u))
      if (extra.length > 0)
        this.c.report({
          groupId: group.id,
          code: 'server-membership',
          message: `the server lists ${extra.join(', ')} in the group, but the signed member list does not: ignored`,
          members: extra,
        })
    })
    this.c.changed()
  }

  /** The server says the user is no longer in the group: ask the admin for the signed list that says so. */
  serverRemoved(groupId: string): void {
    this.server.delete(groupId)
    const g = this.c.groups.get(groupId)
    if (g?.active === true) this.askAdmin(g)
    this.c.changed()
  }

  /** Connects to the admin (a friend) and anyone online in the group, to sync the member list. */
  private askAdmin(g: LiveGroup): void {
    const admin = g.chain.creator
    this.o.links.connect(admin)
    this.o.links.connectNeighbors(g)
  }

  private async joinFromServer(group: Group, blob: unknown): Promise<void> {
    if (this.c.groups.has(group.id)) return
    if (versionOf(blob) === 0) {
      await this.o.lists.adopt(group.id, [blob], undefined, true)
      return
    }
    // A list we cannot check from here: get the chain from the admin named by the server (a
    // friend, since only friends can be added); until then the group is not shown.
    const admin = group.members.find((m) => m.role === 'admin')?.username
    if (admin !== undefined && (await this.o.contact(admin)) !== undefined) this.o.links.connect(admin)
  }
}
