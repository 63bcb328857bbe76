import type { ChunkPiece } from './chunk-frame.ts'
import type { IncomingSink, IncomingStreamOptions, OpenIncoming } from './incoming.ts'
import type { FromReceiveWorker, ToReceiveWorker } from './receive-worker-protocol.ts'

/** The browser's receive worker (bundlers such as Vite recognise this form and build the worker). */
export function createReceiveWorker(): Worker {
  return new Worker(new URL('./receive-worker.ts', import.meta.url), { type: 'module' })
}

interface Pending {
  readonly o: IncomingStreamOptions
  opened?: (resumeFrom: number) => void
  openFailed?: (e: Error) => void
  readonly settles: Map<number, () => void>
}

/**
 * Received files are decrypted, hashed and stored in one Worker shared by all transfers of the
 * account, started on first use. The page keeps only the bookkeeping of which chunk comes next,
 * so gaps and repeats are answered at once; each piece is copied and handed over.
 */
export function workerIncoming(
  username: string,
  create: () => Worker = createReceiveWorker,
): OpenIncoming & { terminate(): void } {
  let worker: Worker | undefined
  let nextId = 1
  let nextTicket = 1
  const files = new Map<number, Pending>()

  const send = (m: ToReceiveWorker, transfer: Transferable[] = []): void => worker?.postMessage(m, transfer)

  function start(): Worker {
    if (worker !== undefined) return worker
    const w = create()
    w.onmessage = (ev: MessageEvent<FromReceiveWorker>) => {
      const m = ev.data
      const f = files.get(m.id)
      if (f === undefined) return
      switch (m.op) {
        case 'opened':
          f.opened?.(m.resumeFrom)
          return
        case 'open-failed':
          files.delete(m.id)
          f.openFailed?.(new Error(m.message))
          return
        case 'stored':
          f.o.onStored(m.stored)
          return
        case 'complete':
          files.delete(m.id)
          f.o.onComplete()
          return
        case 'failed':
          files.delete(m.id)
          f.o.onFailed(m.code, new Error(m.message))
          return
        case 'settled':
          f.settles.get(m.ticket)?.()
          f.settles.delete(m.ticket)
          return
        default: {
          const unreachable: never = m
          return unreachable
        }
      }
    }
    w.onerror = (ev) => {
      // The worker died: every file it held fails (they resume from storage when accepted again).
      for (const [id, f] of files) {
        files.delete(id)
        f.openFailed?.(new Error(ev.message))
        f.o.onFailed('storage-failed', new Error(ev.message || 'the receive worker failed'))
      }
      worker = undefined
    }
    worker = w
    return w
  }

  const open: OpenIncoming = (o, stored, batchChunks) => {
    start()
    const id = nextId++
    const pending: Pending = { o, settles: new Map() }
    files.set(id, pending)
    return new Promise<IncomingSink>((resolve, reject) => {
      pending.opened = (resumeFrom) => resolve(new WorkerSink(id, resumeFrom))
      pending.openFailed = reject
      send({
        op: 'open',
        id,
        username,
        fileId: o.fileId,
        fileIdBytes: o.params.fileId,
        key: o.params.key,
        size: o.params.fileSize,
        chunkSize: o.params.chunkSize,
        chunkCount: o.chunkCount,
        hash: o.expectedHash,
        stored,
        batchChunks,
      })
    })
  }

  class WorkerSink implements IncomingSink {
    private stopped = false

    constructor(
      private readonly id: number,
      private next: number,
    ) {}

    get resumeFrom(): number {
      return this.next
    }

    push(p: ChunkPiece): 'ok' | 'old' | 'gap' {
      if (this.stopped || !files.has(this.id) || p.index < this.next) return 'old'
      if (p.index > this.next) return 'gap'
      // A copy of its own, so handing it over leaves the channel's buffer to other listeners.
      const piece = p.piece.slice()
      send({ op: 'piece', id: this.id, index: p.index, last: p.last, piece }, [piece.buffer])
      if (p.last) this.next++
      return 'ok'
    }

    resetPieces(): void {
      send({ op: 'reset', id: this.id })
    }

    settled(): Promise<void> {
      const f = files.get(this.id)
      if (f === undefined || this.stopped) return Promise.resolve()
      const ticket = nextTicket++
      return new Promise((resolve) => {
        f.settles.set(ticket, resolve)
        send({ op: 'settle', id: this.id, ticket })
      })
    }

    stop(): void {
      this.stopped = true
      const f = files.get(this.id)
      files.delete(this.id)
      for (const resolve of f?.settles.values() ?? []) resolve()
      send({ op: 'stop', id: this.id })
    }
  }

  return Object.assign(open, {
    terminate() {
      worker?.terminate()
      worker = undefined
      files.clear()
    },
  })
}
