import type { ErrorCode } from '../shared/index.ts'

/** Counters exposed at /metrics in the Prometheus text format. */
export class Metrics {
  framesReceived = 0
  framesRelayed = 0
  httpRequests = 0
  private readonly errors = new Map<string, number>()

  error(code: ErrorCode, transport: 'http' | 'ws'): void {
    const key = `${transport}\u0000${code}`
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1)
  }

  render(connections: number, queued: { readonly bytes: number; readonly frames: number }): string {
    const lines = [
      '# HELP tincan_ws_connections WebSocket connections held by this node.',
      '# TYPE tincan_ws_connections gauge',
      `tincan_ws_connections ${connections}`,
      '# HELP tincan_ws_queued_bytes Bytes written to sockets and not yet taken by the network.',
      '# TYPE tincan_ws_queued_bytes gauge',
      `tincan_ws_queued_bytes ${queued.bytes}`,
      '# HELP tincan_ws_queued_frames Frames written to sockets and not yet taken by the network.',
      '# TYPE tincan_ws_queued_frames gauge',
      `tincan_ws_queued_frames ${queued.frames}`,
      '# HELP tincan_ws_frames_received_total Frames received from clients.',
      '# TYPE tincan_ws_frames_received_total counter',
      `tincan_ws_frames_received_total ${this.framesReceived}`,
      '# HELP tincan_frames_relayed_total Signal frames relayed between peers.',
      '# TYPE tincan_frames_relayed_total counter',
      `tincan_frames_relayed_total ${this.framesRelayed}`,
      '# HELP tincan_http_requests_total HTTP requests answered.',
      '# TYPE tincan_http_requests_total counter',
      `tincan_http_requests_total ${this.httpRequests}`,
      '# HELP tincan_errors_total Errors answered, by transport and code.',
      '# TYPE tincan_errors_total counter',
    ]
    for (const [key, n] of [...this.errors].sort()) {
      const [transport, code] = key.split('\u0000')
      lines.push(`tincan_errors_total{transport="${transport ?? ''}",code="${code ?? ''}"} ${n}`)
    }
    return lines.join('\n') + '\n'
  }
}
