import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TincanClient } from '../../../client/core/client.ts'
import { fromBase64Url, toBase64Url } from '../../../crypto/index.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient, twoFriends } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'

describe('scanning a friend’s safety-number QR code', () => {
  let server: TestServer
  let alice: TincanClient
  let bob: TincanClient
  let mallory: TincanClient

  beforeAll(async () => {
    server = await startServer()
    ;({ alice, bob } = await twoFriends(server.baseUrl))
    mallory = await registerClient(await nodeClientEnv(server.baseUrl), 'mallory')
    await befriend(mallory, alice)
  })
  afterAll(async () => {
    for (const c of [alice, bob, mallory]) c.close()
    await server.close()
  })

  it('refuses codes that are not the friend’s, and leaves them unverified', async () => {
    const shownByBob = (await bob.safetyNumber(alice.username)).qr
    const otherKey = fromBase64Url(shownByBob)
    otherKey[5] = (otherKey[5] ?? 0) ^ 0xff
    // Another key where Bob's should be; Mallory's code for Alice; Alice's own code, shown back to her.
    expect(await alice.scanSafetyQr(bob.username, toBase64Url(otherKey))).toBe('mismatch')
    expect(await alice.scanSafetyQr(bob.username, (await mallory.safetyNumber(alice.username)).qr)).toBe(
      'mismatch',
    )
    expect(await alice.scanSafetyQr(bob.username, (await alice.safetyNumber(bob.username)).qr)).toBe(
      'mismatch',
    )
    expect(await alice.scanSafetyQr(bob.username, 'https://example.com/not-a-safety-code')).toBe(
      'not-safety-code',
    )
    expect((await alice.safetyNumber(bob.username)).verified).toBe(false)
    expect((await alice.friendViews()).find((f) => f.username === bob.username)?.verified).toBe(false)
  })

  it('marks the friend verified when the code is the one their device shows', async () => {
    const shownByBob = (await bob.safetyNumber(alice.username)).qr
    expect(await alice.scanSafetyQr(bob.username, shownByBob)).toBe('verified')
    expect((await alice.safetyNumber(bob.username)).verified).toBe(true)
    expect((await alice.friendViews()).find((f) => f.username === bob.username)?.verified).toBe(true)
  })

  it('answers not-found for someone who is not a contact', async () => {
    await expect(alice.scanSafetyQr('nobody-here', 'x')).rejects.toMatchObject({ code: 'not-found' })
  })
})
