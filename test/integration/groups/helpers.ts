import type { ClientEnv, GroupView, TincanClient } from '../../../client/core/client.ts'
import type { CopyRow } from '../../../client/core/groups/group-db.ts'
import type { LiveGroup } from '../../../client/core/groups/group-store.ts'
import type { GroupFrame } from '../../../shared/index.ts'
import { groupConversationId, type GroupErrorEvent } from '../../../client/core/groups/groups.ts'
import type { Message } from '../../../client/core/store/history.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { befriend, registerClient } from '../../helpers/clients.ts'
import { startServer, type TestServer } from '../../helpers/server.ts'
import { until } from '../../helpers/until.ts'
import { internals } from '../../helpers/internals.ts'

/** A Node client environment whose devices open at most `maxLinks` group connections each. */
export async function groupEnv(serverUrl: string, maxLinks: number): Promise<ClientEnv> {
  return { ...(await nodeClientEnv(serverUrl)), groups: { maxLinks } }
}

export async function groupMessages(client: TincanClient, groupId: string): Promise<Message[]> {
  return client.loadMessages(groupConversationId(groupId), undefined, 5000)
}

export async function groupTexts(client: TincanClient, groupId: string): Promise<string[]> {
  return (await groupMessages(client, groupId)).map((m) => m.content.text)
}

/** Waits until the client's history of the group holds every one of `texts`. */
export async function untilTexts(
  client: TincanClient,
  groupId: string,
  texts: readonly string[],
  timeoutMs = 60_000,
): Promise<string[]> {
  return until(
    `${client.username} to have ${texts.length} group messages`,
    async () => {
      const have = await groupTexts(client, groupId)
      return texts.every((t) => have.includes(t)) ? have : undefined
    },
    timeoutMs,
  )
}

/** Every `group-error` the client reports, from now on. */
export function groupErrors(client: TincanClient): GroupErrorEvent[] {
  const seen: GroupErrorEvent[] = []
  client.on('group-error', (e) => seen.push(e))
  return seen
}

interface GroupsInternals {
  store: { copies(groupId: string, fromSeq: number, limit: number): Promise<CopyRow[]> }
  groups: Map<string, LiveGroup>
}

/** Test-only reach-in: the group state a client holds. */
export function groupState(client: TincanClient): GroupsInternals {
  return internals(client).groups as unknown as GroupsInternals
}

/** The ciphertext copies a client keeps for catch-up, as their senders made them. */
export async function copiesOf(client: TincanClient, groupId: string): Promise<CopyRow[]> {
  return groupState(client).store.copies(groupId, 0, 100_000)
}

/** Hands frames to a client's group layer as if `from`'s (authenticated) connection had delivered them. */
export async function deliver(client: TincanClient, from: TincanClient, frame: GroupFrame): Promise<void> {
  await internals(client).groups.receive(from.username, frame, from.identityKey)
}

/** A server, and a group the first client made with the others, its friends (who are not friends of one another). */
export interface StartedGroup {
  readonly server: TestServer
  readonly env: ClientEnv
  readonly clients: TincanClient[]
  readonly group: GroupView
}

/**
 * Starts a server, registers one client per stem, befriends the first with each of the others
 * and has it create the group `name` with them; resolves once every client holds the group with
 * all its members.
 */
export async function startGroup(
  stems: readonly string[],
  name: string,
  maxLinks: number,
): Promise<StartedGroup> {
  const server = await startServer()
  const env = await groupEnv(server.baseUrl, maxLinks)
  const clients: TincanClient[] = []
  for (const stem of stems) clients.push(await registerClient(env, stem))
  const [admin, ...others] = clients
  if (admin === undefined) throw new Error('a group needs an admin')
  for (const c of others) await befriend(admin, c)
  const group = await admin.createGroup(
    name,
    others.map((c) => c.username),
  )
  for (const c of clients)
    await until(`${c.username} to see the group`, () => c.group(group.id)?.members.length === clients.length)
  return { server, env, clients, group }
}
