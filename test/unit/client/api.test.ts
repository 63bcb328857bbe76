import { describe, expect, it } from 'vitest'
import { Api, ApiError } from '../../../client/core/api.ts'

/** An Api whose every request is answered with `status` and `body` (what a hostile server sends). */
function answering(status: number, body: string): { api: Api; paths: string[] } {
  const paths: string[] = []
  const fetchFn: typeof fetch = (input) => {
    paths.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
    return Promise.resolve(
      new Response(body === '' ? null : body, { status, headers: { 'content-type': 'application/json' } }),
    )
  }
  const api = new Api('http://server.test', fetchFn)
  api.token = 'token'
  return { api, paths }
}

const groupId = 'AAAAAAAAAAAAAAAAAAAAAA'

/** Every REST call whose answer the client uses. */
const calls: Record<string, (api: Api) => Promise<unknown>> = {
  prelogin: (api) => api.prelogin('ann'),
  register: (api) =>
    api.register({ username: 'ann', authKey: 'x', identityKey: 'x', keyBundle: 'x' } as never),
  login: (api) => api.login('ann', 'x'),
  sessions: (api) => api.sessions(),
  searchUsers: (api) => api.searchUsers('an'),
  user: (api) => api.user('ann'),
  friends: (api) => api.friends(),
  requests: (api) => api.requests(),
  sendRequest: (api) => api.sendRequest('bob'),
  acceptRequest: (api) => api.acceptRequest('bob'),
  blocked: (api) => api.blocked(),
  groups: (api) => api.groups(),
  createGroup: (api) => api.createGroup({ name: 'g', members: [] } as never),
  updateMembers: (api) => api.updateMembers(groupId, { members: [] } as never),
  renameGroup: (api) => api.renameGroup(groupId, 'g'),
  ice: (api) => api.ice(),
}

describe('answers from the server', () => {
  for (const [name, call] of Object.entries(calls)) {
    it(`refuses a malformed answer to ${name} with a typed error`, async () => {
      for (const body of ['{"bogus":true}', '[]', 'null', '"text"', '{"friends":[{"username":1}]}']) {
        const { api } = answering(200, body)
        const e = await call(api).then(
          () => undefined,
          (err: unknown) => err,
        )
        expect(e, `${name} answered ${body}`).toBeInstanceOf(ApiError)
        expect((e as ApiError).code).toBe('bad-response')
      }
    })
  }

  it('refuses an answer that is not JSON, and one with no body where content was due', async () => {
    await expect(answering(200, '<html>').api.friends()).rejects.toMatchObject({ code: 'bad-response' })
    await expect(answering(204, '').api.friends()).rejects.toMatchObject({ code: 'bad-response' })
  })

  it('refuses usernames the real server forbids, though they would render inertly', async () => {
    const friend = (username: string) =>
      JSON.stringify({
        friends: [{ username, identityKey: 'A'.repeat(43), since: 1, online: false }],
      })
    const good = await answering(200, friend('ann_1')).api.friends()
    expect(good.friends.map((f) => f.username)).toEqual(['ann_1'])
    for (const bad of ['<img src=x onerror=alert(1)>', 'a\u202Eb', '', 'x'.repeat(200)])
      await expect(answering(200, friend(bad)).api.friends()).rejects.toMatchObject({ code: 'bad-response' })
  })

  it('keeps the code and message of a refusal, and refuses to pass on an unreadable one', async () => {
    await expect(
      answering(409, '{"error":{"code":"username-taken","message":"taken"}}').api.login('ann', 'x'),
    ).rejects.toMatchObject({ code: 'username-taken', status: 409 })
    await expect(answering(500, '{"error":{"code":{"nested":1}}}').api.friends()).rejects.toMatchObject({
      code: 'internal',
      status: 500,
    })
  })

  it('takes no code from a refusal that does not fit the shared error schema (issue 16)', async () => {
    // A code outside the list would reach the error table as a code nobody wrote a sentence for.
    for (const body of [
      '{"error":{"code":"you-have-been-hacked","message":"call +1 555"}}',
      '{"error":{"code":"forbidden"}}',
      '{"error":"forbidden"}',
      '<html>Bad Gateway</html>',
    ])
      await expect(answering(403, body).api.friends(), body).rejects.toMatchObject({
        code: 'bad-response',
        status: 403,
      })
    await expect(answering(502, '<html>Bad Gateway</html>').api.friends()).rejects.toMatchObject({
      code: 'internal',
      status: 502,
    })
  })
})
