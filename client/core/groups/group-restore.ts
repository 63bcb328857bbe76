import { CryptoError } from '../../../crypto/index.ts'
import type { GroupContext } from './context.ts'
import type { GroupRestoreCounts, PortableGroupValue } from './group-backup.ts'
import { LiveGroup } from './group-store.ts'
import type { GroupLinks } from './links.ts'
import { MemberChain } from './member-chain.ts'
import { versionOf, type MemberLists } from './member-lists.ts'
import type { MemberPins } from './pins.ts'
import type { GroupSync } from './sync.ts'

export interface GroupRestoreOptions {
  readonly lists: Pick<MemberLists, 'applyList' | 'creatorKey'>
  readonly pins: Pick<MemberPins, 'rebuild'>
  readonly links: Pick<GroupLinks, 'openMembers' | 'connectNeighbors'>
  readonly sync: Pick<GroupSync, 'sendSync'>
}

/** Groups from a backup (group-backup.ts: what a backup carries of a group, and why never a key). */
export class GroupRestore {
  constructor(
    private readonly c: GroupContext,
    private readonly o: GroupRestoreOptions,
  ) {}

  /**
   * Merges groups from a backup (whose first pass already checked every chain link by link). A
   * group this device holds keeps its state, and takes the backup's chain only where it
   * extends its own, checked like a list from a member: an older chain changes nothing, a fork
   * is refused and reported. A group it does not hold is added when version 0 was signed by this
   * user or by a friend with the pinned, accepted key (as `adopt` requires), with no sender key:
   * the first message sent makes a new one, at an epoch after `lastEpoch` (`rotate`).
   */
  async restoreGroups(list: readonly PortableGroupValue[]): Promise<GroupRestoreCounts> {
    await this.c.loaded()
    let added = 0
    let alreadyPresent = 0
    let refused = 0
    for (const r of list) {
      await this.c.run(r.id, async () => {
        const known = this.c.groups.get(r.id)
        if (known !== undefined) {
          alreadyPresent++
          if ((versionOf(r.chain[r.chain.length - 1]) ?? -1) > known.chain.version)
            await this.o.lists.applyList(known, r.chain, undefined)
          return
        }
        const chain = await this.trustedChain(r.id, r.chain)
        if (chain === undefined) {
          refused++
          return
        }
        // A list that no longer names this user leaves the group read-only, whatever else the backup says.
        const removed = r.state === 'active' && !chain.isMember(this.c.me)
        const removedBy = removed ? chain.head.signer : r.removedBy
        // The name is the chain's (its newest version), not the backup's `name` field.
        const g = new LiveGroup(r.id, chain, {
          state: removed ? 'removed' : r.state,
          ...(removedBy === undefined ? {} : { removedBy }),
          lastEpoch: r.lastEpoch,
          leavePending: !removed && r.leavePending === true,
        })
        this.c.groups.set(g.id, g)
        await this.c.store.saveGroup(g)
        added++
        if (!g.active) return
        // Catch-up, as after coming back online: members send their keys and what we lack.
        for (const p of this.o.links.openMembers(g)) this.o.sync.sendSync(p, g)
      })
    }
    if (added > 0) {
      await this.o.pins.rebuild()
      this.c.changed()
      this.o.links.connectNeighbors()
    }
    return { added, alreadyPresent, refused }
  }

  /** A chain from a backup, verified from a version 0 signed with the creator's trusted key. */
  private async trustedChain(
    groupId: string,
    chainRaw: readonly unknown[],
  ): Promise<MemberChain | undefined> {
    const first = chainRaw[0] as { signer?: unknown } | undefined
    const creator = typeof first?.signer === 'string' ? first.signer : undefined
    if (creator === undefined) return undefined
    const creatorKey = await this.o.lists.creatorKey(creator)
    if (creatorKey === undefined) {
      this.c.report({
        groupId,
        code: 'untrusted-creator',
        message: `${creator} created the group but is not a friend with an accepted key: not restored`,
      })
      return undefined
    }
    try {
      const chain = MemberChain.verify(chainRaw, creatorKey)
      if (chain.groupId !== groupId) throw new CryptoError('bad-chain', 'a member list of another group')
      return chain
    } catch (e: unknown) {
      this.c.report({
        groupId,
        code: 'bad-member-list',
        message: `member list in the backup refused: ${e instanceof Error ? e.message : String(e)}`,
      })
      return undefined
    }
  }
}
