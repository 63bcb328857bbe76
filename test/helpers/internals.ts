import { clientParts, type TincanClient } from '../../client/core/client.ts'
import type { ClientParts } from '../../client/core/create-client.ts'

/**
 * A client's parts, for tests that act below the public surface: fault injection (cutting a
 * connection, holding a frame back), a hostile friend sending frames the real client never
 * would, and checks of storage. Tests of behaviour use the client's public methods instead.
 */
export function internals(client: TincanClient): ClientParts {
  return clientParts(client)
}
