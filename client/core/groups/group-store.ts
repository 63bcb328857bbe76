import {
  decryptRecord,
  encryptRecord,
  GroupReceiver,
  GroupSender,
  utf8Decode,
  utf8Encode,
  type GroupReceiverJson,
  type GroupSenderJson,
  type SignedMemberList,
  type SignedSenderKey,
} from '../../../crypto/index.ts'
import { openGroupDb } from '../store/databases.ts'
import type { ChainRow, CopyRow, GroupDb } from './group-db.ts'
import { Holdings } from './holdings.ts'
import { MemberChain } from './member-chain.ts'
import { RangeSet } from './ranges.ts'

const schemaVersion = 1

export type GroupState = 'active' | 'removed' | 'left'

interface GroupBody {
  readonly chain: readonly SignedMemberList[]
  readonly state: GroupState
  readonly removedBy?: string
  readonly lastEpoch: number
  readonly leavePending?: boolean
}

interface SenderBody {
  readonly sender: GroupSenderJson
  readonly key: SignedSenderKey
}

interface ChainBody {
  readonly key: SignedSenderKey
  /** Null for this device's own epochs: it sends on them, it does not read them. */
  readonly receiver: GroupReceiverJson | null
}

export const chainId = (sender: string, epoch: number): string => `${sender}\n${epoch}`

/** A group as this device holds it in memory; `GroupStore` writes it through. */
export class LiveGroup {
  state: GroupState
  removedBy: string | undefined
  lastEpoch: number
  leavePending: boolean
  sender: GroupSender | undefined
  ownKey: SignedSenderKey | undefined
  readonly holdings = new Holdings()
  /** Every held epoch's signed key (ours too), by `chainId`: what other members may be given. */
  readonly keys = new Map<string, SignedSenderKey>()
  readonly receivers = new Map<string, GroupReceiver>()
  nextSeq = 0

  constructor(
    readonly id: string,
    public chain: MemberChain,
    body: Omit<GroupBody, 'chain'>,
  ) {
    this.state = body.state
    this.removedBy = body.removedBy
    this.lastEpoch = body.lastEpoch
    this.leavePending = body.leavePending ?? false
  }

  /** The name in the newest verified member list: never the server's. */
  get name(): string {
    return this.chain.head.name
  }

  get active(): boolean {
    return this.state === 'active'
  }
}

/**
 * The group database, sealed under the vault key: member lists, our sending chain, every
 * receiving chain and signed key, and the ciphertext copies kept for members who missed them.
 */
export class GroupStore {
  private dbPromise: Promise<GroupDb> | undefined

  constructor(
    private readonly username: string,
    private readonly vaultKey: Uint8Array,
  ) {}

  private db(): Promise<GroupDb> {
    this.dbPromise ??= openGroupDb(this.username)
    return this.dbPromise
  }

  async close(): Promise<void> {
    if (this.dbPromise === undefined) return
    const db = await this.dbPromise.catch(() => undefined)
    db?.close()
  }

  private seal(store: string, id: string, value: unknown): Uint8Array {
    return encryptRecord(this.vaultKey, { store, id, schemaVersion }, utf8Encode(JSON.stringify(value)))
  }

  private open<T>(store: string, id: string, sealed: Uint8Array): T {
    return JSON.parse(utf8Decode(decryptRecord(this.vaultKey, { store, id, schemaVersion }, sealed))) as T
  }

  private chainRow(g: LiveGroup, sender: string, epoch: number): ChainRow | undefined {
    const h = g.holdings.get(sender, epoch)
    const key = g.keys.get(chainId(sender, epoch))
    if (h === undefined || key === undefined) return undefined
    const receiver = g.receivers.get(chainId(sender, epoch))
    const body: ChainBody = { key, receiver: receiver === undefined ? null : receiver.toJson() }
    return {
      groupId: g.id,
      sender,
      epoch,
      listVersion: h.listVersion,
      ...(h.prev === undefined ? {} : { prev: h.prev }),
      held: h.held.toPairs(),
      sealed: this.seal('group-chains', `${g.id}/${sender}/${epoch}`, body),
    }
  }

  async loadAll(): Promise<LiveGroup[]> {
    const db = await this.db()
    const out: LiveGroup[] = []
    for (const row of await db.getAll('groups')) {
      const body = this.open<GroupBody>('groups', row.id, row.sealed)
      const g = new LiveGroup(row.id, MemberChain.restore(body.chain), body)
      const sender = await db.get('senders', row.id)
      if (sender !== undefined) {
        const s = this.open<SenderBody>('group-senders', row.id, sender.sealed)
        g.sender = GroupSender.restore(s.sender)
        g.ownKey = s.key
      }
      const range = IDBKeyRange.bound([row.id, '', 0], [row.id, '\uffff', Infinity])
      for (const c of await db.getAll('chains', range)) {
        const body = this.open<ChainBody>('group-chains', `${row.id}/${c.sender}/${c.epoch}`, c.sealed)
        g.holdings.set({
          sender: c.sender,
          epoch: c.epoch,
          listVersion: c.listVersion,
          prev: c.prev,
          held: RangeSet.of(c.held),
        })
        g.keys.set(chainId(c.sender, c.epoch), body.key)
        if (body.receiver !== null)
          g.receivers.set(chainId(c.sender, c.epoch), GroupReceiver.restore(body.receiver))
      }
      const last = await db
        .transaction('copies')
        .store.openCursor(IDBKeyRange.bound([row.id, 0], [row.id, Infinity]), 'prev')
      g.nextSeq = last === null ? 0 : last.value.seq + 1
      out.push(g)
    }
    return out
  }

  async saveGroup(g: LiveGroup): Promise<void> {
    const body: GroupBody = {
      chain: g.chain.all,
      state: g.state,
      ...(g.removedBy === undefined ? {} : { removedBy: g.removedBy }),
      lastEpoch: g.lastEpoch,
      ...(g.leavePending ? { leavePending: true } : {}),
    }
    await (await this.db()).put('groups', { id: g.id, sealed: this.seal('groups', g.id, body) })
  }

  /**
   * Writes, in one transaction: our sending chain (when `sender`), the given epochs' chains, and
   * new ciphertext copies. A sending chain is written before anything encrypted with it leaves.
   */
  async save(
    g: LiveGroup,
    opts: { sender?: boolean; chains?: Iterable<string>; copies?: readonly CopyRow[] },
  ): Promise<void> {
    const db = await this.db()
    const tx = db.transaction(['senders', 'chains', 'copies'], 'readwrite')
    const writes: Promise<unknown>[] = []
    if (opts.sender === true && g.sender !== undefined && g.ownKey !== undefined) {
      const body: SenderBody = { sender: g.sender.toJson(), key: g.ownKey }
      writes.push(
        tx.objectStore('senders').put({ groupId: g.id, sealed: this.seal('group-senders', g.id, body) }),
      )
    }
    for (const id of opts.chains ?? []) {
      const [sender, epoch] = id.split('\n') as [string, string]
      const row = this.chainRow(g, sender, Number(epoch))
      if (row !== undefined) writes.push(tx.objectStore('chains').put(row))
    }
    for (const c of opts.copies ?? []) writes.push(tx.objectStore('copies').put(c))
    await Promise.all([...writes, tx.done])
  }

  async deleteChains(groupId: string, chains: readonly { sender: string; epoch: number }[]): Promise<void> {
    if (chains.length === 0) return
    const tx = (await this.db()).transaction('chains', 'readwrite')
    await Promise.all([...chains.map((c) => tx.store.delete([groupId, c.sender, c.epoch])), tx.done])
  }

  /** Removed or left: every key and copy goes; the list and name stay for the history's sake. */
  async wipeKeys(groupId: string): Promise<void> {
    const tx = (await this.db()).transaction(['senders', 'chains', 'copies'], 'readwrite')
    await Promise.all([
      tx.objectStore('senders').delete(groupId),
      tx.objectStore('chains').delete(IDBKeyRange.bound([groupId, '', 0], [groupId, '\uffff', Infinity])),
      tx.objectStore('copies').delete(IDBKeyRange.bound([groupId, 0], [groupId, Infinity])),
      tx.done,
    ])
  }

  /** Copies from `fromSeq` on, in the order this device got them, a batch at a time. */
  async copies(groupId: string, fromSeq: number, limit: number): Promise<CopyRow[]> {
    return (await this.db()).getAll(
      'copies',
      IDBKeyRange.bound([groupId, fromSeq], [groupId, Infinity]),
      limit,
    )
  }

  /** Keeps the newest `keep` copies of a group. */
  async pruneCopies(groupId: string, nextSeq: number, keep: number): Promise<void> {
    if (nextSeq <= keep) return
    await (
      await this.db()
    ).delete('copies', IDBKeyRange.bound([groupId, 0], [groupId, nextSeq - keep], false, true))
  }
}
