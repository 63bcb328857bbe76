import {
  CryptoError,
  fromBase64Url,
  GroupReceiver,
  GroupSender,
  signSenderKey,
  verifySenderKey,
  type Identity,
  type SignedSenderKey,
} from '../../../crypto/index.ts'
import type { GroupKeysFrame } from '../../../shared/index.ts'
import type { GroupContext } from './context.ts'
import { chainId, type LiveGroup } from './group-store.ts'
import type { GroupLinks } from './links.ts'
import { RangeSet } from './ranges.ts'

/** Newest epochs kept per sender (keys and read state), 100 messages each between rotations. */
const keptEpochsPerSender = 16
/** Epochs follow a clock (seconds since 2024), so a member that lost its state never reuses one. */
const epochOriginMs = Date.UTC(2024, 0, 1)

/**
 * Sender keys: our own sending chain, replaced at every membership change and now and then, and
 * the other members' signed keys, verified against the member list they name and passed on.
 */
export class SenderKeys {
  constructor(
    private readonly c: GroupContext,
    private readonly identity: Identity,
    private readonly links: Pick<GroupLinks, 'openMembers'>,
  ) {}

  /**
   * A new sending chain bound to the current member-list version: at joining, after every
   * membership change, and every 100 messages or 7 days. The signed key goes to every member
   * connected now; the others get it in the next summary exchange, from us or from anyone.
   */
  async rotate(g: LiveGroup): Promise<void> {
    const { me, store } = this.c
    const now = this.c.now()
    const old = g.sender
    const oldKey = g.ownKey
    const epoch = Math.max(g.lastEpoch + 1, Math.floor((now - epochOriginMs) / 1000))
    const sender = GroupSender.create(g.id, me, epoch, now)
    const key = signSenderKey(
      this.identity.identityKey.secretKey,
      sender.distribution(),
      { version: g.chain.version, hash: fromBase64Url(g.chain.hash, 32) },
      old === undefined || oldKey === undefined
        ? undefined
        : { epoch: old.epoch, count: old.iteration, listVersion: oldKey.listVersion },
    )
    old?.rotate(now)
    g.sender = sender
    g.ownKey = key
    g.lastEpoch = epoch
    g.holdings.set({
      sender: me,
      epoch,
      listVersion: key.listVersion,
      prev: key.prev,
      held: new RangeSet(),
    })
    g.keys.set(chainId(me, epoch), key)
    const dropped = this.pruneEpochs(g, me)
    await store.saveGroup(g)
    await store.save(g, { sender: true, chains: [chainId(me, epoch)] })
    await store.deleteChains(g.id, dropped)
    this.forward(g, key, undefined)
  }

  /**
   * Verifies and installs the keys a member sent (one `group-keys` frame from a member let in);
   * returns the ones new here. A key that does not verify is reported and dropped.
   */
  async install(peer: string, g: LiveGroup, f: GroupKeysFrame): Promise<SignedSenderKey[]> {
    const me = this.c.me
    const view = this.c.views.of(peer, g.id)
    const dirty: string[] = []
    const installed: SignedSenderKey[] = []
    for (const raw of f.k) {
      const r = raw as Partial<SignedSenderKey> | null
      const sender = r?.sender
      const listVersion = r?.listVersion
      if (typeof sender !== 'string' || typeof listVersion !== 'number' || typeof r?.epoch !== 'number')
        continue
      view.gotKey(sender, r.epoch)
      // Keys for a version we do not hold yet come again in the summary after the list.
      if (listVersion > g.chain.version || sender === me) continue
      if (!g.chain.isMember(sender) || !g.chain.isMember(sender, listVersion)) continue
      if (!g.chain.isMember(me, listVersion)) continue
      if (g.holdings.get(sender, r.epoch) !== undefined) continue
      const identityKey = g.chain.member(sender, listVersion)?.identityKey
      let key: SignedSenderKey
      try {
        key = verifySenderKey(raw, fromBase64Url(identityKey, 32))
        if (key.groupId !== g.id || key.listHash !== g.chain.hashOf(listVersion))
          throw new CryptoError('bad-chain', 'sender key for another group or member list')
        const receiver = new GroupReceiver(g.id)
        receiver.install(key, sender)
        g.receivers.set(chainId(sender, key.epoch), receiver)
      } catch (e: unknown) {
        this.c.report({
          groupId: g.id,
          code: 'forged-key',
          message: `a sender key for ${sender} from ${peer} was refused: ${e instanceof Error ? e.message : String(e)}`,
          peer,
        })
        continue
      }
      g.keys.set(chainId(sender, key.epoch), key)
      g.holdings.set({ sender, epoch: key.epoch, listVersion, prev: key.prev, held: new RangeSet() })
      dirty.push(chainId(sender, key.epoch))
      installed.push(key)
    }
    if (installed.length === 0) return installed
    const dropped = [...new Set(installed.map((k) => k.sender))].flatMap((s) => this.pruneEpochs(g, s))
    await this.c.store.save(g, { chains: dirty })
    await this.c.store.deleteChains(g.id, dropped)
    return installed
  }

  /** To every connected member entitled to it (in its list version) who may not have it. */
  forward(g: LiveGroup, key: SignedSenderKey, except: string | undefined): void {
    for (const p of this.links.openMembers(g, except)) {
      if (!g.chain.isMember(p, key.listVersion)) continue
      const view = this.c.views.of(p, g.id)
      if (!view.needsKey(key.sender, key.epoch)) continue
      view.gotKey(key.sender, key.epoch)
      this.c.out.key(p, g.id, key)
    }
  }

  /** Keeps a sender's newest epochs; returns the ones dropped. */
  private pruneEpochs(g: LiveGroup, sender: string): { sender: string; epoch: number }[] {
    const old = g.holdings.epochsOf(sender).slice(keptEpochsPerSender)
    for (const h of old) {
      g.holdings.delete(sender, h.epoch)
      g.keys.delete(chainId(sender, h.epoch))
      g.receivers.delete(chainId(sender, h.epoch))
    }
    return old.map((h) => ({ sender, epoch: h.epoch }))
  }
}
