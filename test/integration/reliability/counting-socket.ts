import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { decodeServerFrame, type ServerFrame } from '../../../shared/index.ts'
import type { WireFrame } from './hostile-inputs.ts'

type Relayed = Extract<ServerFrame, { type: 'signal' }>

/**
 * A WebSocket client that counts rather than keeps: thousands of frames a second go through it.
 * Answers are the frames the server sends in reply to one of ours (ready, pong, sent, error);
 * relayed signals and pushes are kept apart. Anything outside the protocol is a violation.
 */
export class CountingSocket {
  answers = 0
  sent = 0
  readonly errors = new Map<string, number>()
  readonly relayed: Relayed[] = []
  readonly violations: string[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  closedWith: { code: number; reason: string } | undefined
  private readonly waiting = new Map<string, (frame: ServerFrame) => void>()
  private readonly onAnswer = new Set<() => void>()

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(data.toString('utf8'), isBinary))
    ws.on('error', () => undefined)
    this.closed = new Promise((done) =>
      ws.once('close', (code: number, reason: Buffer) => {
        this.closedWith = { code, reason: reason.toString() }
        done(this.closedWith)
        for (const wake of [...this.onAnswer]) wake()
      }),
    )
  }

  static async open(url: string): Promise<CountingSocket> {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    const socket = new CountingSocket(ws)
    await new Promise<void>((done, fail) => {
      ws.once('open', () => done())
      ws.once('error', fail)
    })
    return socket
  }

  static async connect(url: string, token: string): Promise<CountingSocket> {
    const socket = await CountingSocket.open(url)
    const ready = await socket.request({ type: 'auth', token })
    if (ready.type !== 'ready') throw new Error(`auth refused: ${JSON.stringify(ready)}`)
    return socket
  }

  send(frame: unknown): void {
    this.sendWire({ text: JSON.stringify(frame) })
  }

  sendWire(frame: WireFrame): void {
    this.sent++
    if ('text' in frame) this.ws.send(frame.text)
    else this.ws.send(frame.bytes, { binary: true })
  }

  /** Sends a frame with a fresh ref and waits for the answer carrying it. */
  request(frame: Record<string, unknown>, timeoutMs = 30_000): Promise<ServerFrame> {
    const ref = `~${randomBytes(6).toString('base64url')}`
    return new Promise((done, fail) => {
      const timer = setTimeout(() => {
        this.waiting.delete(ref)
        fail(new Error(`no answer to ${String(frame['type'])} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiting.set(ref, (answer) => {
        clearTimeout(timer)
        done(answer)
      })
      void this.closed.then(({ code, reason }) => {
        if (!this.waiting.delete(ref)) return
        clearTimeout(timer)
        fail(new Error(`closed (${code} ${reason}) before answering ${String(frame['type'])}`))
      })
      this.send({ ...frame, ref })
    })
  }

  /**
   * Pings and waits for the pong. The server answers bad frames at once and queues good ones in
   * order, so once the pong is here every earlier frame has had its answer.
   */
  async sync(): Promise<void> {
    const pong = await this.request({ type: 'ping' })
    if (pong.type !== 'pong') throw new Error(`ping answered with ${JSON.stringify(pong)}`)
  }

  /** Resolves at the next answer or at close, whichever comes first. */
  nextAnswerOrClose(timeoutMs = 10_000): Promise<'answer' | 'closed'> {
    const before = this.answers
    return new Promise((done, fail) => {
      const check = (): void => {
        if (this.answers > before) finish('answer')
        else if (this.closedWith !== undefined) finish('closed')
      }
      const timer = setTimeout(() => {
        this.onAnswer.delete(check)
        fail(new Error(`neither an answer nor a close within ${timeoutMs} ms`))
      }, timeoutMs)
      const finish = (how: 'answer' | 'closed'): void => {
        clearTimeout(timer)
        this.onAnswer.delete(check)
        done(how)
      }
      this.onAnswer.add(check)
      check()
    })
  }

  close(): Promise<{ code: number; reason: string }> {
    if (this.closedWith === undefined) this.ws.close(1000)
    return this.closed
  }

  private receive(text: string, isBinary: boolean): void {
    let raw: unknown
    try {
      raw = isBinary ? undefined : (JSON.parse(text) as unknown)
    } catch {
      raw = undefined
    }
    const decoded = decodeServerFrame(raw)
    if (!decoded.ok) {
      this.violations.push(text.slice(0, 300))
      return
    }
    const frame = decoded.value
    switch (frame.type) {
      case 'ready':
      case 'pong':
      case 'sent':
      case 'error': {
        this.answers++
        if (frame.type === 'error') this.errors.set(frame.code, (this.errors.get(frame.code) ?? 0) + 1)
        const waiter = frame.ref === undefined ? undefined : this.waiting.get(frame.ref)
        if (waiter !== undefined && frame.ref !== undefined) {
          this.waiting.delete(frame.ref)
          waiter(frame)
        }
        for (const wake of [...this.onAnswer]) wake()
        return
      }
      case 'signal':
        this.relayed.push(frame)
        return
      case 'presence':
      case 'friend-request':
      case 'friend-request-closed':
      case 'friend-added':
      case 'friend-removed':
      case 'key-changed':
      case 'group-updated':
      case 'group-removed':
      case 'reconnect':
        // pushes, not answers
        return
      default: {
        const unreachable: never = frame
        return unreachable
      }
    }
  }
}
