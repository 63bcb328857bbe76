/**
 * The part of simple-peer (9.x) that Tincan uses. The browser imports the package's own bundle
 * (`simple-peer/simplepeer.min.js`: the npm entry needs Node globals under Vite); Node tests
 * import the package and pass `@roamhq/wrtc` as `wrtc`.
 */
export type SimplePeerSignal =
  | { type: 'offer' | 'answer'; sdp: string }
  | { type: 'candidate'; candidate: RTCIceCandidateInit }
  | { type: 'renegotiate' | 'transceiverRequest'; [k: string]: unknown }

export interface SimplePeerOptions {
  initiator: boolean
  trickle: boolean
  config: RTCConfiguration
  channelConfig?: RTCDataChannelInit
  wrtc?: unknown
  allowHalfTrickle?: boolean
}

export interface SimplePeerInstance {
  readonly connected: boolean
  readonly destroyed: boolean
  /** The underlying connection and channel (simple-peer's own fields). */
  readonly _pc: RTCPeerConnection
  readonly _channel: RTCDataChannel | null
  signal(data: SimplePeerSignal): void
  send(data: Uint8Array | string): void
  destroy(err?: Error): void
  on(event: 'signal', handler: (data: SimplePeerSignal) => void): void
  on(event: 'connect' | 'close', handler: () => void): void
  on(event: 'data', handler: (data: Uint8Array) => void): void
  on(event: 'error', handler: (err: Error & { code?: string }) => void): void
}

export type SimplePeerConstructor = new (opts: SimplePeerOptions) => SimplePeerInstance
