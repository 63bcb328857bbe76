import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TincanClient } from '../../../client/core/client.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import {
  derivePasswordKeys,
  fromBase64Url,
  generateIdentity,
  sealIdentity,
  toBase64Url,
} from '../../../crypto/index.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient, testPassword } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { internals } from '../../helpers/internals.ts'

describe('a friend whose identity key changes', () => {
  let server: TestServer
  const open: TincanClient[] = []

  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    for (const c of open) c.close()
    await server.close()
  })

  it('blocks sending until the user accepts the new key, then works with it', async () => {
    const env = await nodeClientEnv(server.baseUrl)
    const alice = await registerClient(env, 'alice')
    let bob = await registerClient(env, 'bob')
    open.push(alice, bob)
    await befriend(alice, bob)
    await alice.sendText(directConversationId(bob.username), 'before the change')
    await until(
      'first message',
      async () => (await bob.loadMessages(directConversationId(alice.username))).length === 1,
    )

    const changed: string[] = []
    alice.on('key-changed', (e) => changed.push(e.username))
    // Bob starts over with a new identity (as after losing every device), through the real route.
    const pre = await server.api.prelogin(bob.username)
    const keys = derivePasswordKeys(testPassword, fromBase64Url(pre.salt, 16), {
      algorithm: 'argon2id13',
      opsLimit: pre.kdf.opsLimit,
      memLimitBytes: pre.kdf.memLimitBytes,
    })
    const identity = generateIdentity()
    await server.api.as(internals(bob).api.token ?? '').resetIdentity({
      authKey: toBase64Url(keys.authKey),
      identityKey: toBase64Url(identity.identityKey.publicKey),
      keyBundle: sealIdentity(identity, keys.masterKey),
    })
    await until('alice to be warned', () => changed.includes(bob.username))
    const views = await alice.friendViews()
    expect(views.find((f) => f.username === bob.username)?.keyChanged).toBe(true)
    await expect(alice.sendText(directConversationId(bob.username), 'should not go')).rejects.toMatchObject({
      code: 'forbidden',
    })

    bob.close()
    bob = await TincanClient.login(env, bob.username, testPassword)
    open.push(bob)
    // Same password, new identity: this device's history still opens.
    expect(bob.historyReset).toBe(false)
    expect((await bob.loadMessages(directConversationId(alice.username))).map((m) => m.content.text)).toEqual(
      ['before the change'],
    )
    await alice.acceptKeyChange(bob.username)
    expect((await alice.friendViews()).find((f) => f.username === bob.username)?.keyChanged).toBe(false)
    await alice.sendText(directConversationId(bob.username), 'after accepting the new key')
    await until('the message under the new key', async () =>
      (await bob.loadMessages(directConversationId(alice.username))).some(
        (m) => m.content.text === 'after accepting the new key',
      ),
    )
    const safety = await alice.safetyNumber(bob.username)
    expect(safety.verified).toBe(false)
  })
})
