import { utf8Encode } from '../../../crypto/index.ts'
import type { ClientEnv, TincanClient } from '../../../client/core/client.ts'
import type { CopyRow } from '../../../client/core/groups/group-db.ts'
import type { LiveGroup } from '../../../client/core/groups/group-store.ts'
import type { GroupFrame } from '../../../shared/index.ts'
import { groupConversationId, type GroupErrorEvent } from '../../../client/core/groups/groups.ts'
import type { Message } from '../../../client/core/store/history.ts'
import { nodeClientEnv } from '../../helpers/client-env.ts'
import { until } from '../../helpers/until.ts'

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
export function internals(client: TincanClient): GroupsInternals {
  return client.groupChat as unknown as GroupsInternals
}

/** The ciphertext copies a client keeps for catch-up, as their senders made them. */
export async function copiesOf(client: TincanClient, groupId: string): Promise<CopyRow[]> {
  return internals(client).store.copies(groupId, 0, 100_000)
}

/** Hands frames to a client's group layer as if `from`'s connection had delivered them. */
export async function deliver(client: TincanClient, from: string, frame: GroupFrame): Promise<void> {
  await client.groupChat.receive(from, utf8Encode(JSON.stringify(frame)))
}
