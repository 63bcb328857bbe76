import type { WebSocket } from 'ws'

/** How much may wait, unsent, for sockets that read slower than they are written to. */
export interface OutboxLimits {
  /** Per socket: with this many bytes or frames waiting, signals to it are refused. */
  readonly maxBytes: number
  readonly maxFrames: number
  /** All sockets of the node together: past it, sockets with a backlog of their own get no signals. */
  readonly nodeMaxBytes: number
  /** A socket that stays refused this long does not read: it is closed with 4408. */
  readonly slowReaderMs: number
}

/** What waits in this node's socket buffers, all sockets together (the node-wide cap, /metrics). */
export class NodeBacklog {
  bytes = 0
  frames = 0
  constructor(readonly limits: OutboxLimits) {}
}

/** Who an outbox tells about its socket. */
export interface OutboxOwner {
  /** The socket started or stopped refusing signals. */
  busyChanged(): void
  /** The socket stayed over its cap for slowReaderMs, or went past twice its cap. */
  tooSlow(): void
}

/** What became of a signal offered to one socket. */
export type Offer = 'queued' | 'busy' | 'closed'

/**
 * Once the node is over its cap, a socket with this much of its own waiting counts as a slow
 * reader; sockets that keep up hold a frame or two at most, and keep getting signals.
 */
const slowShareBytes = 64 * 1024

/**
 * A socket that still needs what it is sent (answers, presence, friends, groups) may exceed
 * its cap up to this factor; past it, it is closed rather than buffered without end.
 */
const mustSendFactor = 2

/**
 * Everything written to one socket goes through here, so nothing can queue without bound
 * behind a client that stopped reading (issue 15, D1). Signals may be refused: the sender is
 * told `recipient-busy` and retries later. Other frames cannot be dropped without the client
 * missing state, so a socket that would need them queued past twice its cap is closed (the
 * client reconnects and reloads). `bytes` and `frames` count what `ws` has taken and the kernel
 * not yet (`bufferedAmount` without frame headers), from the write callbacks.
 */
export class Outbox {
  private bytes = 0
  private frames = 0
  private busyNow = false
  private released = false
  private slowTimer: ReturnType<typeof setTimeout> | undefined
  private corked = false
  private readonly raw: { cork(): void; uncork(): void } | undefined

  constructor(
    private readonly socket: WebSocket,
    private readonly node: NodeBacklog,
    private readonly owner: OutboxOwner,
  ) {
    this.raw = (socket as unknown as { _socket?: { cork(): void; uncork(): void } })._socket
  }

  /**
   * True while signals to this socket are refused: from its cap until it has drained to half.
   * A closing socket is not busy but gone: senders are told `peer-offline` once it was the last.
   */
  get busy(): boolean {
    return this.busyNow && this.socket.readyState === this.socket.OPEN
  }

  /** Queues a frame the client must get; false when the socket is closed or has just been closed for it. */
  push(json: string): boolean {
    if (this.released || this.socket.readyState !== this.socket.OPEN) return false
    const { maxBytes, maxFrames } = this.node.limits
    if (this.bytes >= mustSendFactor * maxBytes || this.frames >= mustSendFactor * maxFrames) {
      this.owner.tooSlow()
      return false
    }
    this.write(json)
    return true
  }

  /** Queues a signal if the socket has room for it. */
  offer(json: string): Offer {
    if (this.released || this.socket.readyState !== this.socket.OPEN) return 'closed'
    if (this.busyNow || (this.node.bytes >= this.node.limits.nodeMaxBytes && this.bytes >= slowShareBytes))
      return 'busy'
    this.write(json)
    return 'queued'
  }

  /** The socket closed: what it still held no longer counts against the node. */
  release(): void {
    if (this.released) return
    this.released = true
    this.node.bytes -= this.bytes
    this.node.frames -= this.frames
    this.bytes = 0
    this.frames = 0
    this.busyNow = false
    clearTimeout(this.slowTimer)
  }

  private write(json: string): void {
    const size = Buffer.byteLength(json)
    this.bytes += size
    this.frames++
    this.node.bytes += size
    this.node.frames++
    // Frames written during one turn of the event loop leave in one write: the relay is bound
    // by system calls, not by JSON.
    if (!this.corked && this.raw !== undefined) {
      this.corked = true
      this.raw.cork()
      setImmediate(uncork, this)
    }
    this.socket.send(json, () => this.written(size))
    const { maxBytes, maxFrames } = this.node.limits
    if (!this.busyNow && (this.bytes >= maxBytes || this.frames >= maxFrames)) this.setBusy(true)
  }

  /** The end of the event loop turn in which the socket was corked. */
  uncorkNow(): void {
    this.corked = false
    this.raw?.uncork()
  }

  private written(size: number): void {
    if (this.released) return
    this.bytes -= size
    this.frames--
    this.node.bytes -= size
    this.node.frames--
    const { maxBytes, maxFrames } = this.node.limits
    // Half, not just under: a socket at its cap would otherwise flip on every frame.
    if (this.busyNow && this.bytes <= maxBytes / 2 && this.frames <= maxFrames / 2) this.setBusy(false)
  }

  private setBusy(busy: boolean): void {
    this.busyNow = busy
    clearTimeout(this.slowTimer)
    if (busy) this.slowTimer = setTimeout(() => this.owner.tooSlow(), this.node.limits.slowReaderMs)
    this.owner.busyChanged()
  }
}

/** A module function, not a closure per outbox: setImmediate hands it the outbox. */
function uncork(outbox: Outbox): void {
  outbox.uncorkNow()
}
