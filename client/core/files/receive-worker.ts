/// <reference lib="webworker" />
// Receiving a file costs its decryption, its hash and the structured clone of every chunk into
// IndexedDB. Here, in a Worker, that work leaves the page's main thread (which stays free for the
// UI and for chat) and can use another core. See receive-worker-client.ts for the other side.
import { initCrypto } from '../../../crypto/index.ts'
import { openHistoryDb } from '../store/databases.ts'
import type { Db } from '../store/db.ts'
import { FileChunks } from './file-chunks.ts'
import { IncomingStream } from './incoming.ts'
import type { ToReceiveWorker, FromReceiveWorker } from './receive-worker-protocol.ts'

const scope = self as unknown as DedicatedWorkerGlobalScope
const streams = new Map<number, IncomingStream>()
const databases = new Map<string, Promise<Db>>()

function post(message: FromReceiveWorker): void {
  scope.postMessage(message)
}

function database(username: string): Promise<Db> {
  let db = databases.get(username)
  if (db === undefined) {
    db = openHistoryDb(username).then((d) => {
      // A newer page wants to upgrade the database: let it.
      d.addEventListener('versionchange', () => d.close())
      return d
    })
    databases.set(username, db)
  }
  return db
}

async function open(m: Extract<ToReceiveWorker, { op: 'open' }>): Promise<void> {
  await initCrypto()
  // Only chunks and counts are written here; nothing is sealed, so no key is needed (or given).
  const store = new FileChunks(await database(m.username))
  const stream = await IncomingStream.open(
    {
      store,
      fileId: m.fileId,
      params: { key: m.key, fileId: m.fileIdBytes, fileSize: m.size, chunkSize: m.chunkSize },
      chunkCount: m.chunkCount,
      expectedHash: m.hash,
      onStored: (stored) => post({ op: 'stored', id: m.id, stored }),
      onComplete: () => {
        streams.delete(m.id)
        post({ op: 'complete', id: m.id })
      },
      onFailed: (code, e) => {
        streams.delete(m.id)
        post({ op: 'failed', id: m.id, code, message: e instanceof Error ? e.message : String(e) })
      },
    },
    m.stored,
    m.batchChunks,
  )
  streams.set(m.id, stream)
  post({ op: 'opened', id: m.id, resumeFrom: stream.resumeFrom })
  stream.start()
}

scope.onmessage = (ev: MessageEvent<ToReceiveWorker>) => {
  const m = ev.data
  switch (m.op) {
    case 'open':
      open(m).catch((e: unknown) =>
        post({ op: 'open-failed', id: m.id, message: e instanceof Error ? e.message : String(e) }),
      )
      return
    case 'piece':
      streams.get(m.id)?.push({ fileId: '', index: m.index, last: m.last, piece: m.piece })
      return
    case 'reset':
      streams.get(m.id)?.resetPieces()
      return
    case 'settle': {
      const stream = streams.get(m.id)
      void (stream === undefined ? Promise.resolve() : stream.settled()).then(() =>
        post({ op: 'settled', id: m.id, ticket: m.ticket }),
      )
      return
    }
    case 'stop':
      streams.get(m.id)?.stop()
      streams.delete(m.id)
      return
    default: {
      const unreachable: never = m
      return unreachable
    }
  }
}
