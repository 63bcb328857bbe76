import type { DBSchema, IDBPDatabase } from 'idb'

/** A group this device knows: everything sealed under the vault key (see group-store.ts). */
export interface GroupRow {
  readonly id: string
  sealed: Uint8Array
}

/** This device's own sending chain in a group (sealed: it holds the chain and signing keys). */
export interface SenderRow {
  readonly groupId: string
  sealed: Uint8Array
}

/**
 * One sender-key epoch of one member. Which messages were read is in the clear (it is what a
 * summary tells other members anyway); the signed key and the receiving chain are sealed.
 */
export interface ChainRow {
  readonly groupId: string
  readonly sender: string
  readonly epoch: number
  readonly listVersion: number
  readonly prev?: { readonly epoch: number; readonly count: number; readonly listVersion: number }
  held: [number, number][]
  sealed: Uint8Array
}

/**
 * A group message exactly as its sender encrypted and signed it, kept to pass on to members who
 * missed it. `seq` is the order this device got it in (catch-up sends in that order). The
 * ciphertext is already sealed under the group's sender key, whose keys are sealed in `chains`.
 */
export interface CopyRow {
  readonly groupId: string
  readonly seq: number
  readonly sender: string
  readonly epoch: number
  readonly iteration: number
  readonly ct: Uint8Array
  /** Our own messages only: the history message, whose state follows the other members' acknowledgements. */
  readonly messageId?: string
}

export interface GroupDbSchema extends DBSchema {
  groups: { key: string; value: GroupRow }
  senders: { key: string; value: SenderRow }
  chains: { key: [string, string, number]; value: ChainRow }
  copies: { key: [string, number]; value: CopyRow }
}

export type GroupDb = IDBPDatabase<GroupDbSchema>

/**
 * Group protocol state lives in a database of its own next to the account's history
 * (`tincan:<user>`): it changes on its own schedule (member lists, keys, copies for catch-up) and
 * its schema versions stay independent of the history's. Group messages themselves are history
 * messages (conversation `group:<id>`).
 */
export function groupDbName(username: string): string {
  return `tincan-groups:${username}`
}

export const groupDbVersion = 1

/** Takes the group database from `oldVersion` to `groupDbVersion` (store/databases.ts opens it). */
export function upgradeGroupDb(db: IDBPDatabase<GroupDbSchema>, oldVersion: number): void {
  if (oldVersion < 1) {
    db.createObjectStore('groups', { keyPath: 'id' })
    db.createObjectStore('senders', { keyPath: 'groupId' })
    db.createObjectStore('chains', { keyPath: ['groupId', 'sender', 'epoch'] })
    db.createObjectStore('copies', { keyPath: ['groupId', 'seq'] })
  }
}
