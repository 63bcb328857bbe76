import { TincanClient, type ClientEnv } from '../../client/core/client.ts'
import { uniqueName } from './api.ts'
import { nodeClientEnv } from './client-env.ts'
import { until } from './until.ts'

export const testPassword = 'correct horse battery staple'

export async function registerClient(env: ClientEnv, stem: string): Promise<TincanClient> {
  return TincanClient.register(env, uniqueName(stem), testPassword)
}

/** A sends a request, B accepts through the client API, and each sees the other online. */
export async function befriend(a: TincanClient, b: TincanClient): Promise<void> {
  await a.sendFriendRequest(b.username)
  await until(`${b.username} to get the request`, () =>
    b.requests.incoming.some((r) => r.username === a.username),
  )
  await b.acceptFriendRequest(a.username)
  await until(`${a.username} to see ${b.username} online`, () => a.isOnline(b.username))
  await until(`${b.username} to see ${a.username} online`, () => b.isOnline(a.username))
  // Each pins the other's key as its `friend-added` arrives; presence can come first.
  for (const [me, them] of [
    [a, b],
    [b, a],
  ] as const)
    await until(`${me.username} to trust ${them.username}'s key`, async () =>
      (await me.friendViews()).some((f) => f.username === them.username && !f.unconfirmed),
    )
}

/** Alice and Bob, registered on the server at `serverUrl` and already friends, each online. */
export async function twoFriends(
  serverUrl: string,
): Promise<{ env: ClientEnv; alice: TincanClient; bob: TincanClient }> {
  const env = await nodeClientEnv(serverUrl)
  const alice = await registerClient(env, 'alice')
  const bob = await registerClient(env, 'bob')
  await befriend(alice, bob)
  return { env, alice, bob }
}
