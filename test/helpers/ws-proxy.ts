import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket, { WebSocketServer } from 'ws'

/** One client's connection through the proxy (the same object for every frame on it). */
export interface ProxiedConnection {
  /** Sends a frame to the client, e.g. one held back earlier, as if the server had sent it. */
  toClient(frame: Record<string, unknown>): void
  /** Cuts the client's connection, as a server that crashed would. */
  cut(): void
}

/** What the proxy does with one frame: pass it, replace it, or drop it. */
export type Tamper = (
  frame: Record<string, unknown>,
  direction: 'to-client' | 'to-server',
  connection: ProxiedConnection,
) => Record<string, unknown> | null

/**
 * A hostile relay for tests: sits between one client and the real server and can read, alter,
 * drop, replay or inject WebSocket frames — what a compromised server could do.
 */
export class WsProxy {
  readonly url: string
  private readonly clients = new Set<WebSocket>()
  tamper: Tamper = (f) => f

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    port: number,
  ) {
    this.url = `ws://127.0.0.1:${port}/ws`
  }

  static async start(upstreamUrl: string): Promise<WsProxy> {
    const http = createServer()
    const wss = new WebSocketServer({ server: http })
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
    const proxy = new WsProxy(http, wss, (http.address() as AddressInfo).port)
    wss.on('connection', (client) => proxy.attach(client, upstreamUrl))
    return proxy
  }

  private attach(client: WebSocket, upstreamUrl: string): void {
    this.clients.add(client)
    const upstream = new WebSocket(upstreamUrl)
    const early: string[] = []
    upstream.on('open', () => {
      for (const m of early.splice(0)) upstream.send(m)
    })
    const connection: ProxiedConnection = {
      toClient: (frame) => {
        if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify(frame))
      },
      cut: () => client.terminate(),
    }
    const relay = (raw: string, direction: 'to-client' | 'to-server', target: WebSocket): void => {
      const out = this.tamper(JSON.parse(raw) as Record<string, unknown>, direction, connection)
      if (out !== null) target.send(JSON.stringify(out))
    }
    client.on('message', (data: Buffer) => {
      if (upstream.readyState === WebSocket.OPEN) relay(data.toString(), 'to-server', upstream)
      else early.push(data.toString())
    })
    upstream.on('message', (data: Buffer) => relay(data.toString(), 'to-client', client))
    client.on('close', () => upstream.close())
    upstream.on('close', (code) => client.close(code === 1005 ? 1000 : code))
    client.on('error', () => upstream.close())
    upstream.on('error', () => client.close())
  }

  /** Sends a frame to every connected client as if the server had sent it. */
  inject(frame: Record<string, unknown>): void {
    for (const c of this.clients) if (c.readyState === WebSocket.OPEN) c.send(JSON.stringify(frame))
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.terminate()
    this.wss.close()
    await new Promise<void>((r) => this.http.close(() => r()))
  }
}
