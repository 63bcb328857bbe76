import { afterEach, describe, expect, it } from 'vitest'
import { TincanClient, type ClientEnv, type GroupView } from '../../../client/core/client.ts'
import { toBase64Url } from '../../../crypto/index.ts'
import { befriend, registerClient, testPassword } from '../../helpers/clients.ts'
import { Impostor } from '../../helpers/impostor.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { WsProxy } from '../../helpers/ws-proxy.ts'
import { groupEnv, groupErrors, untilTexts } from './helpers.ts'
import { groupConversationId } from '../../../client/core/index.ts'

/**
 * Issue 14, F1: a malicious server tries to take over a group member. It tells Alice that Carol's
 * key changed (or that Carol is her new friend) with a key of its own, marks Carol online, and an
 * endpoint of its own calls Alice as Carol. The group's signed member list vouches for Carol's
 * real key; nothing the server says replaces it.
 */
describe('a server that poses as a group member', () => {
  let server: TestServer
  let proxy: WsProxy
  const open: { close(): void }[] = []

  afterEach(async () => {
    for (const c of open.splice(0)) c.close()
    await proxy.close()
    await server.close()
  })

  /** Bob's group with Alice (behind the hostile relay) and Carol, one message from each. */
  async function setUp(aliceAndCarolAreFriends: boolean) {
    server = await startServer()
    const env = await groupEnv(server.baseUrl, 8)
    proxy = await WsProxy.start(server.wsUrl)
    const aliceEnv: ClientEnv = { ...env, createSocket: () => env.createSocket(proxy.url) }
    const bob = await registerClient(env, 'bob')
    const alice = await registerClient(aliceEnv, 'alice')
    const carol = await registerClient(env, 'carol')
    open.push(bob, alice, carol)
    await befriend(bob, alice)
    await befriend(bob, carol)
    if (aliceAndCarolAreFriends) await befriend(alice, carol)
    const group = await bob.createGroup('Allotment', [alice.username, carol.username])
    for (const c of [bob, alice, carol])
      await until(`${c.username} to see the group`, () => c.group(group.id)?.members.length === 3)
    const texts: string[] = []
    for (const c of [bob, alice, carol]) {
      const text = `hello from ${c.username}`
      texts.push(text)
      await c.sendText(groupConversationId(group.id), text)
    }
    for (const c of [bob, alice, carol]) await untilTexts(c, group.id, texts)
    // Carol closes her page; the server knows she is gone.
    carol.close()
    await until('alice to see carol offline', () => !alice.isOnline(carol.username))
    return { env, aliceEnv, bob, alice, carol, group }
  }

  function peerErrors(client: TincanClient): { peer: string; code: string }[] {
    const seen: { peer: string; code: string }[] = []
    client.on('peer-error', (e) => seen.push(e))
    return seen
  }

  /**
   * The impostor calls, three times unless a call opens; once it opened, it asks (as a member
   * would) for every member list, sender key and message copy of the group.
   */
  async function attack(impostor: Impostor, group: GroupView) {
    const openedBefore = impostor.opened.length
    for (let call = 0; call < 3 && impostor.opened.length === openedBefore; call++) {
      const failedBefore = impostor.failedCalls
      impostor.call()
      await until(
        'the call to fail or to open',
        () => impostor.failedCalls > failedBefore || impostor.opened.length > openedBefore,
        30_000,
      )
    }
    if (impostor.opened.length > openedBefore) {
      await impostor.send({ type: 'group-sync', g: group.id, v: -1, h: '', s: [] })
      // An honest member answers a summary at once; give a leak every chance to show.
      await until('a refusal or the group data', () => impostor.received.some(isGroupSecret), 5_000).catch(
        () => undefined,
      )
    }
  }

  const isGroupSecret = (f: { type: string }): boolean => f.type === 'group-keys' || f.type === 'group-msgs'

  it('refuses a non-friend member’s key the server reports, keeps it refused after a reload, and warns', async () => {
    const { aliceEnv, bob, alice, carol, group } = await setUp(false)
    const groupWarnings = groupErrors(alice)
    const refusals = peerErrors(alice)
    const impostor = new Impostor(
      carol.username,
      { username: alice.username, identityKey: alice.identityKey },
      proxy,
    )
    open.push(impostor)
    await impostor.start(aliceEnv)

    proxy.inject({ type: 'key-changed', username: carol.username, identityKey: impostor.identityKey })
    proxy.inject({ type: 'presence', username: carol.username, online: true })
    await attack(impostor, group)
    expect(impostor.opened).toEqual([])
    expect(impostor.received).toEqual([])
    expect(refusals.some((e) => e.peer === carol.username)).toBe(true)
    await until('alice to report the server’s claim', () =>
      groupWarnings.some((e) => e.code === 'key-claim' && e.members?.includes(carol.username)),
    )
    // Nothing was pinned for Carol: she is no contact of Alice's.
    await expect(alice.safetyNumber(carol.username)).rejects.toMatchObject({ code: 'not-found' })

    // The same with `friend-added`: the server makes Carol Alice's "friend" with its key.
    proxy.inject({
      type: 'friend-added',
      friend: { username: carol.username, identityKey: impostor.identityKey },
      online: true,
    })
    await attack(impostor, group)
    expect(impostor.opened).toEqual([])
    expect(impostor.received).toEqual([])

    // Alice reloads the page; the server tries again.
    alice.close()
    const again = await TincanClient.login(aliceEnv, alice.username, testPassword)
    open.push(again)
    const warningsAgain = groupErrors(again)
    const refusalsAgain = peerErrors(again)
    await until('alice to be online again', () => again.connectionState === 'online')
    proxy.inject({ type: 'key-changed', username: carol.username, identityKey: impostor.identityKey })
    proxy.inject({ type: 'presence', username: carol.username, online: true })
    await until('alice to report the claim again', () =>
      warningsAgain.some((e) => e.code === 'key-claim' && e.members?.includes(carol.username)),
    )
    await attack(impostor, group)
    expect(impostor.opened).toEqual([])
    expect(impostor.received).toEqual([])
    expect(refusalsAgain.some((e) => e.peer === carol.username)).toBe(true)

    // The group still works for Alice.
    const later = 'bob, after the attempt'
    await bob.sendText(groupConversationId(group.id), later)
    await untilTexts(again, group.id, [later])
  })

  it('gives nothing of the group to a friend’s new key, even once the user accepted it, and warns after a reload', async () => {
    const { aliceEnv, alice, carol, group } = await setUp(true)
    const changed: string[] = []
    alice.on('key-changed', (e) => changed.push(e.username))
    const impostor = new Impostor(
      carol.username,
      { username: alice.username, identityKey: alice.identityKey },
      proxy,
    )
    open.push(impostor)
    await impostor.start(aliceEnv)

    proxy.inject({ type: 'key-changed', username: carol.username, identityKey: impostor.identityKey })
    await until('alice to be warned of the key change', () => changed.includes(carol.username))
    expect((await alice.friendViews()).find((f) => f.username === carol.username)?.keyChanged).toBe(true)
    proxy.inject({ type: 'presence', username: carol.username, online: true })
    await attack(impostor, group)
    expect(impostor.opened).toEqual([])

    // A second report naming the old key does not clear the warning: only Alice can.
    proxy.inject({
      type: 'key-changed',
      username: carol.username,
      identityKey: toBase64Url(carol.identityKey),
    })
    await alice.refresh()
    expect((await alice.friendViews()).find((f) => f.username === carol.username)?.keyChanged).toBe(true)

    // Alice is fooled and accepts the new key: one-to-one chat is hers to risk, the group is not.
    const groupWarnings = groupErrors(alice)
    await alice.acceptKeyChange(carol.username)
    await attack(impostor, group)
    expect(impostor.opened).toContain(alice.username)
    expect(impostor.received.filter(isGroupSecret)).toEqual([])
    await until('alice to report the member whose key does not match', () =>
      groupWarnings.some((e) => e.code === 'key-mismatch' && e.members?.includes(carol.username)),
    )
    expect(alice.group(group.id)?.members.find((m) => m.username === carol.username)?.keyMismatch).toBe(true)

    // After a reload the warning is raised while the client starts, before anyone listens: it is kept.
    alice.close()
    const again = await TincanClient.login(aliceEnv, alice.username, testPassword)
    open.push(again)
    const warningsAgain = groupErrors(again)
    await until('the warning raised at start to reach the listener', () =>
      warningsAgain.some((e) => e.code === 'key-mismatch' && e.members?.includes(carol.username)),
    )
    expect(again.group(group.id)?.members.find((m) => m.username === carol.username)?.keyMismatch).toBe(true)
  })
})
