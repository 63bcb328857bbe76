import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { decodeServerFrame, type ServerFrame } from '../../shared/index.ts'

export type FrameOf<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>

export interface Closed {
  readonly code: number
  readonly reason: string
}

const defaultTimeoutMs = 5_000

/**
 * A real WebSocket client of the signaling server. It keeps every frame the server sends, in
 * order; `next` hands each one out at most once, so tests can wait for "the next frame like
 * this" without racing the socket. Any frame that does not match the ServerFrame schema is a
 * protocol violation and fails every later `next`.
 */
export class WsClient {
  /** Every frame received, in order of arrival. */
  readonly frames: ServerFrame[] = []
  /** Frames that were not valid server frames (they fail `next`). */
  readonly violations: unknown[] = []
  /** Resolves when the socket has closed, with the code and reason the server gave. */
  readonly closed: Promise<Closed>
  private readonly taken = new Set<number>()
  private readonly waiters = new Set<() => void>()
  private closedWith: Closed | undefined

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      const text = Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Buffer.from(data as ArrayBuffer).toString('utf8')
      let raw: unknown = text
      try {
        raw = isBinary ? text : (JSON.parse(text) as unknown)
      } catch {
        // kept as text: reported as a violation below
      }
      const decoded = decodeServerFrame(raw)
      if (decoded.ok) this.frames.push(decoded.value)
      else this.violations.push(raw)
      this.wake()
    })
    this.closed = new Promise((done) => {
      socket.once('close', (code: number, reason: Buffer) => {
        this.closedWith = { code, reason: reason.toString('utf8') }
        done(this.closedWith)
        this.wake()
      })
    })
    socket.on('error', () => {
      // 'close' follows and is what tests look at.
    })
  }

  /** Opens a socket without authenticating. */
  static async open(url: string): Promise<WsClient> {
    const socket = new WebSocket(url)
    const client = new WsClient(socket)
    await new Promise<void>((done, fail) => {
      socket.once('open', () => done())
      socket.once('error', fail)
    })
    return client
  }

  /** Opens a socket and authenticates with `token`; resolves once the server answered `ready`. */
  static async connect(url: string, token: string): Promise<WsClient & { readonly ready: FrameOf<'ready'> }> {
    const client = await WsClient.open(url)
    const ready = await client.auth(token)
    return Object.assign(client, { ready })
  }

  /** Sends an `auth` frame and waits for `ready` (rejects if the server refuses or closes). */
  async auth(token: string): Promise<FrameOf<'ready'>> {
    const ref = WsClient.newRef()
    this.send({ type: 'auth', token, ref })
    const answer = await this.next(
      (f) => ('ref' in f && f.ref === ref) || (f.type === 'error' && f.ref === undefined),
    )
    if (answer.type !== 'ready') throw new Error(`auth was refused: ${JSON.stringify(answer)}`)
    return answer
  }

  /** Sends a value as JSON text (any value: tests send invalid frames on purpose). */
  send(frame: unknown): void {
    this.socket.send(JSON.stringify(frame))
  }

  /** Sends text or bytes as they are. */
  sendRaw(data: string | Buffer, options: { binary?: boolean } = {}): void {
    this.socket.send(data, { binary: options.binary ?? typeof data !== 'string' })
  }

  /**
   * The first frame not yet handed out that has this type (and matches `predicate`), waiting
   * for it up to `timeoutMs`. Rejects on timeout, or when the socket closed without it.
   */
  next<T extends ServerFrame['type']>(
    type: T,
    predicate?: (frame: FrameOf<T>) => boolean,
    timeoutMs?: number,
  ): Promise<FrameOf<T>>
  next(predicate: (frame: ServerFrame) => boolean, timeoutMs?: number): Promise<ServerFrame>
  next(
    typeOrPredicate: ServerFrame['type'] | ((frame: ServerFrame) => boolean),
    predicateOrTimeout?: ((frame: never) => boolean) | number,
    maybeTimeoutMs?: number,
  ): Promise<ServerFrame> {
    let matches: (frame: ServerFrame) => boolean
    let timeoutMs: number
    if (typeof typeOrPredicate === 'function') {
      matches = typeOrPredicate
      timeoutMs = typeof predicateOrTimeout === 'number' ? predicateOrTimeout : defaultTimeoutMs
    } else {
      const extra =
        typeof predicateOrTimeout === 'function'
          ? (predicateOrTimeout as (f: ServerFrame) => boolean)
          : undefined
      matches = (f) => f.type === typeOrPredicate && (extra === undefined || extra(f))
      timeoutMs = maybeTimeoutMs ?? defaultTimeoutMs
    }
    return new Promise((done, fail) => {
      const check = (): void => {
        if (this.violations.length > 0) {
          finish()
          fail(
            new Error(`the server sent a frame outside the protocol: ${JSON.stringify(this.violations[0])}`),
          )
          return
        }
        const index = this.frames.findIndex((f, i) => !this.taken.has(i) && matches(f))
        const frame = this.frames[index]
        if (frame !== undefined) {
          this.taken.add(index)
          finish()
          done(frame)
        } else if (this.closedWith !== undefined) {
          finish()
          fail(
            new Error(`socket closed (${this.closedWith.code} ${this.closedWith.reason}) ${this.describe()}`),
          )
        }
      }
      const timer = setTimeout(() => {
        finish()
        fail(new Error(`no matching frame within ${timeoutMs} ms ${this.describe()}`))
      }, timeoutMs)
      const finish = (): void => {
        clearTimeout(timer)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
      check()
    })
  }

  /** Frames of this type received so far (handed out or not). */
  received<T extends ServerFrame['type']>(type: T): FrameOf<T>[] {
    return this.frames.filter((f): f is FrameOf<T> => f.type === type)
  }

  /**
   * Pings and waits for the pong. The server answers frames on one socket in order and writes
   * to a socket in order, so afterwards every frame it sent this socket before the ping has
   * arrived: a frame that is still missing was never sent.
   */
  async sync(timeoutMs = defaultTimeoutMs): Promise<void> {
    const ref = WsClient.newRef()
    this.send({ type: 'ping', ref })
    await this.next('pong', (f) => f.ref === ref, timeoutMs)
  }

  /** Closes from the client side and waits for the close to complete. */
  async close(code = 1000): Promise<Closed> {
    if (this.closedWith === undefined && this.socket.readyState !== WebSocket.CLOSED) this.socket.close(code)
    return this.closed
  }

  static newRef(): string {
    return randomBytes(6).toString('base64url')
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter()
  }

  private describe(): string {
    const untaken = this.frames.filter((_f, i) => !this.taken.has(i))
    return `(frames not yet handed out: ${JSON.stringify(untaken).slice(0, 2000)})`
  }
}

/**
 * Tracks sockets opened during a test so each file closes them in afterEach, and a failed
 * test does not leave connections that keep the server (and vitest) alive.
 */
export class Sockets {
  private readonly open = new Set<WsClient>()

  constructor(private readonly url: () => string) {}

  async connect(token: string): Promise<WsClient & { readonly ready: FrameOf<'ready'> }> {
    const client = await WsClient.connect(this.url(), token)
    this.open.add(client)
    return client
  }

  async raw(): Promise<WsClient> {
    const client = await WsClient.open(this.url())
    this.open.add(client)
    return client
  }

  async closeAll(): Promise<void> {
    const all = [...this.open]
    this.open.clear()
    await Promise.all(all.map((c) => c.close()))
  }
}
