import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { LiveGroup } from './group-store.ts'
import { MemberChain } from './member-chain.ts'

// What an encrypted backup (client/core/export/) carries of the group database
// (`tincan-groups:<user>`, group-db.ts), and why (docs/EXPORT.md, "Groups in a backup").
//
//   carried     each group's whole signed member-list chain from version 0 (who is in it, who
//               the admin is and the name, checkable without the server; `name` repeats the
//               newest version's for reading, and a restore takes the chain's), its state (active,
//               removed by whom, left, a leave the admin has not signed yet) and the last
//               sender-key epoch this account used in it.
//   left out    our own sending chain (`senders`): a restored copy would encrypt again at chain
//               positions the original device already used — two messages under one message
//               key, and members dropping the second as a duplicate. After a restore the first
//               message sent makes a fresh sender key, at an epoch after `lastEpoch` (and after
//               the clock, sender-keys.ts), as when joining.
//   left out    every receiving chain and signed sender key (`chains`): the backup file lives
//               long, and a chain in it would read every later message of that epoch. They are
//               not needed either: a restored group holds nothing, so the first member whose
//               connection opens sends its signed keys and the ciphertext copies it keeps
//               (catch-up, as for any member back from offline); messages already restored are
//               recognised by their id and not added twice.
//   left out    the ciphertext copies kept for other members' catch-up (`copies`): they are
//               sealed under sender keys that are not in the backup, and other members keep
//               their own.

/** A group as backed up (store `groups` in the backup; no IndexedDB store of the account's database). */
export const PortableGroup = Type.Object({
  id: Type.String({ minLength: 1 }),
  name: Type.String(),
  state: Type.Union([Type.Literal('active'), Type.Literal('removed'), Type.Literal('left')]),
  removedBy: Type.Optional(Type.String()),
  lastEpoch: Type.Integer({ minimum: 0 }),
  leavePending: Type.Optional(Type.Boolean()),
  /** The signed member lists from version 0 to the newest this device verified. */
  chain: Type.Array(Type.Unknown(), { minItems: 1 }),
})

export type PortableGroupValue = Static<typeof PortableGroup>

/** What a restore did with the backup's groups. */
export interface GroupRestoreCounts {
  readonly added: number
  /** Groups this device had already: its own state stays; a longer signed chain in the backup extends it. */
  readonly alreadyPresent: number
  /** Groups not restored: their creator is not a friend whose pinned key signed the chain. */
  readonly refused: number
}

/** The group layer as a backup and its restore use it (groups.ts). */
export interface GroupBackupSource {
  backupGroups(): Promise<readonly PortableGroupValue[]>
  restoreGroups(groups: readonly PortableGroupValue[]): Promise<GroupRestoreCounts>
}

/** A group as it goes into a backup: never a key. */
export function portableGroup(g: LiveGroup): PortableGroupValue {
  return {
    id: g.id,
    name: g.name,
    state: g.state,
    ...(g.removedBy === undefined ? {} : { removedBy: g.removedBy }),
    lastEpoch: g.lastEpoch,
    ...(g.leavePending ? { leavePending: true } : {}),
    chain: [...g.chain.all],
  }
}

/**
 * Whether a backed-up group is whole: its shape, and a member-list chain that verifies link by
 * link from a version 0 signed by its creator (`MemberChain.restore`) and names this group. The
 * restore's first pass checks this, so a backup with a bad chain changes nothing; whether the
 * creator's key is the one pinned for that friend is checked when the group is restored.
 */
export function validPortableGroup(value: unknown): boolean {
  if (!Value.Check(PortableGroup, value)) return false
  try {
    return MemberChain.restore(value.chain).groupId === value.id
  } catch {
    return false
  }
}
