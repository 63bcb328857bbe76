// Issue 17: the baseline for the relay bench. A bare `ws` server that relays the same frames as
// Tincan's /ws with nothing else: the first frame names the user (no token check), every signal
// goes to whoever holds that name (no friendship, block, size or rate check) and is answered
// `sent`. What Tincan does beyond this is its own cost. Run by bench/relay.bench.ts in its own
// process: `PORT=… node --import tsx bench/bare-relay.ts`.
import { WebSocketServer, type WebSocket } from 'ws'
import { limits } from '../shared/index.ts'

interface Frame {
  readonly type?: unknown
  readonly token?: unknown
  readonly to?: unknown
  readonly sid?: unknown
  readonly envelope?: unknown
  readonly ref?: unknown
}

const port = Number(process.env['PORT'] ?? 0)
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: false,
  maxPayload: 4 * limits.maxFrameBytes,
})
const byName = new Map<string, WebSocket>()

wss.on('connection', (ws) => {
  let me: string | undefined
  ws.on('error', () => undefined)
  ws.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString()) as Frame
    const ref = typeof frame.ref === 'string' ? { ref: frame.ref } : {}
    if (me === undefined) {
      me = String(frame.token)
      byName.set(me, ws)
      ws.send(JSON.stringify({ type: 'ready', username: me, sessionId: 'bare', online: [], ...ref }))
      return
    }
    if (frame.type === 'ping') {
      ws.send(JSON.stringify({ type: 'pong', ...ref }))
      return
    }
    const to = byName.get(String(frame.to))
    if (to === undefined) {
      ws.send(JSON.stringify({ type: 'error', code: 'peer-offline', message: 'not connected', ...ref }))
      return
    }
    to.send(JSON.stringify({ type: 'signal', from: me, sid: frame.sid, envelope: frame.envelope }))
    ws.send(JSON.stringify({ type: 'sent', ...ref }))
  })
  ws.on('close', () => {
    if (me !== undefined && byName.get(me) === ws) byName.delete(me)
  })
})

wss.on('listening', () => {
  const address = wss.address()
  const bound = typeof address === 'object' && address !== null ? address.port : port
  process.stdout.write(`bare relay is running at ws://127.0.0.1:${bound}\n`)
})

process.on('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate()
  wss.close(() => process.exit(0))
})
