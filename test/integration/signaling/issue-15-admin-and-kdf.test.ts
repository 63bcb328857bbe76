// Issue 15, D12 (part): one admin per group, as SECURITY.md says (an admin could make a second
// admin, who then removed the creator), and no password hashing weaker than the client's
// minimum (the server took Argon2id settings far below it, making the stored auth-key hash
// cheap to brute-force back to the password).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { minimumKdfParams } from '../../../crypto/password.ts'
import { defaultKdf } from '../../../shared/index.ts'
import {
  makeFriends,
  newCredentials,
  randomB64,
  registerAccount,
  registerRequest,
  uniqueName,
} from '../../helpers/api.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'

let server: TestServer

beforeAll(async () => {
  server = await startServer()
})
afterAll(() => server.close())

describe('one admin per group', () => {
  it('refuses to make a second admin, so nobody can then remove the creator', async () => {
    const [creator, helper, third] = await Promise.all([
      registerAccount(server.api, 'creator'),
      registerAccount(server.api, 'helper'),
      registerAccount(server.api, 'third'),
    ])
    await makeFriends(creator, helper)
    await makeFriends(creator, third)
    const group = await creator.api.createGroup({
      name: 'Mine',
      members: [helper.username, third.username],
      memberList: 'AA',
    })

    const promote = await creator.api.raw('PUT', `/api/groups/${group.id}/members`, {
      body: {
        members: [
          { username: creator.username, role: 'admin' },
          { username: helper.username, role: 'admin' },
          { username: third.username, role: 'member' },
        ],
        memberList: 'AB',
      },
    })
    const coup = await helper.api.raw('PUT', `/api/groups/${group.id}/members`, {
      body: {
        members: [
          { username: helper.username, role: 'admin' },
          { username: third.username, role: 'member' },
        ],
        memberList: 'AC',
      },
    })

    expect(promote).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
    expect(coup).toMatchObject({ status: 403, body: { error: { code: 'not-admin' } } })
    expect(await creator.api.group(group.id)).toEqual(group)
  })
})

describe('password hashing settings', () => {
  const weaker = [
    ['fewer passes', { ...defaultKdf, opsLimit: minimumKdfParams.opsLimit - 1 }],
    ['less memory', { ...defaultKdf, memLimitBytes: minimumKdfParams.memLimitBytes / 2 }],
    ['the least libsodium takes', { ...defaultKdf, opsLimit: 1, memLimitBytes: 8192 }],
    ['more memory than a client derives with', { ...defaultKdf, memLimitBytes: 2 * 1024 ** 3 }],
    ['memory that is not whole KiB', { ...defaultKdf, memLimitBytes: defaultKdf.memLimitBytes + 1 }],
  ] as const

  it.each(weaker)(
    'are refused at registration with %s than the client allows, naming the field',
    async (_what, kdf) => {
      const username = uniqueName('weak')
      const reply = await server.api.raw('POST', '/api/register', {
        body: { ...registerRequest(newCredentials(username)), kdf },
      })

      expect(reply).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
      expect((reply.body as { error: { message: string } }).error.message).toMatch(/^body\/kdf\//)
      // Nothing was made: the name is still free.
      expect((await server.api.register(registerRequest(newCredentials(username)))).username).toBe(username)
    },
  )

  it.each(weaker)(
    'are refused on a password change with %s, and the old password still works',
    async (_what, kdf) => {
      const me = await registerAccount(server.api, 'changer')
      const reply = await me.api.raw('POST', '/api/password', {
        body: {
          authKey: me.authKey,
          newAuthKey: randomB64(32),
          newSalt: randomB64(16),
          newKdf: kdf,
          newKeyBundle: randomB64(96),
        },
      })

      expect(reply).toMatchObject({ status: 400, body: { error: { code: 'bad-request' } } })
      expect(await server.api.prelogin(me.username)).toEqual({ salt: me.salt, kdf: defaultKdf })
      expect((await server.api.login(me.username, me.authKey)).username).toBe(me.username)
    },
  )

  it("accepts the client's own minimum and maximum", async () => {
    for (const kdf of [
      { ...defaultKdf, opsLimit: minimumKdfParams.opsLimit, memLimitBytes: minimumKdfParams.memLimitBytes },
      { ...defaultKdf, opsLimit: 16, memLimitBytes: 1024 ** 3 },
    ]) {
      const credentials = { ...newCredentials(uniqueName('bounds')), kdf }
      await server.api.register(registerRequest(credentials))
      expect((await server.api.prelogin(credentials.username)).kdf).toEqual(kdf)
    }
  })
})
