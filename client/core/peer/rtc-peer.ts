import { Emitter } from '../emitter.ts'
import { TincanError } from '../errors.ts'

/**
 * One RTCPeerConnection carrying one data channel (and, where both sides have it, the chat
 * channel beside it): the offer and answer, trickled ICE candidates, and the channels' life. Tincan's own thin layer over WebRTC, in place of simple-peer 9 (no
 * release since 2022; its connection and channel could only be reached through private fields).
 * The maintained fork, @thaunknown/simple-peer 10, was not usable: it depends on node-datachannel,
 * whose install fetches a native build (or its sources) from GitHub, so `npm ci` fails wherever
 * only the npm registry is reachable.
 *
 * The connection and channel are public (`pc`, `channel`): the link reads both DTLS fingerprints
 * and the remote `max-message-size` from the descriptions, and the send scheduler waits on the
 * channel's `bufferedamountlow` event where the platform has one.
 */

/** What goes to the other side through the signaling server (signed there: peer-manager.ts). */
export type RtcSignal =
  | { readonly type: 'offer' | 'answer'; readonly sdp: string }
  | { readonly type: 'candidate'; readonly candidate: RTCIceCandidateInit }

export interface RtcPeerEvents extends Record<string, unknown> {
  signal: RtcSignal
  /** The data channel is open (which needs ICE and DTLS to be up). */
  connect: undefined
  data: Uint8Array
  /** A message on the chat channel (see `chatChannel`). */
  'chat-data': Uint8Array
  /** Why the connection ended, when it failed; `close` follows. */
  error: RtcPeerError
  close: undefined
}

export const rtcPeerErrorCodes = [
  'negotiation-failed',
  'ice-failed',
  'connection-failed',
  'channel-error',
  'not-open',
] as const
export type RtcPeerErrorCode = (typeof rtcPeerErrorCodes)[number]

/** Why a connection could not be made or kept: the link treats every one as a dropped connection and retries. */
export class RtcPeerError extends TincanError<RtcPeerErrorCode> {
  override readonly name = 'RtcPeerError'
}

/** The browser's RTCPeerConnection, or `@roamhq/wrtc`'s in Node. */
export type RtcPeerConnectionClass = new (config?: RTCConfiguration) => RTCPeerConnection

export interface RtcPeerOptions {
  /** The initiator makes the channel and the offer; the other side answers. */
  readonly initiator: boolean
  readonly config: RTCConfiguration
  readonly channelConfig?: RTCDataChannelInit
  /** Defaults to the platform's own. */
  readonly RTCPeerConnection?: RtcPeerConnectionClass
  /** Also open the chat channel (both sides must, and say so; see `chatChannel`). */
  readonly chatChannel?: boolean
}

const channelLabel = 'tincan'
/**
 * The chat channel: a second ordered channel on the same connection, negotiated out of band
 * (both sides create it with this stream id, no in-band open message), so an older client that
 * does not create it never hears of it. Not 0 or 1, the ids the in-band channel gets.
 */
export const chatChannelId = 2
const chatChannelLabel = 'tincan-chat'

export class RtcPeer extends Emitter<RtcPeerEvents> {
  readonly pc: RTCPeerConnection
  private dc: RTCDataChannel | null = null
  private chat: RTCDataChannel | null = null
  /** Offer, answer and candidates are applied one at a time, in arrival order. */
  private steps: Promise<void> = Promise.resolve()
  /** Candidates that came before the remote description (the answer may lag its candidates). */
  private pending: RTCIceCandidateInit[] = []
  private connectedFlag = false
  private destroyedFlag = false

  constructor(o: RtcPeerOptions) {
    super()
    const Connection =
      o.RTCPeerConnection ?? (globalThis as { RTCPeerConnection?: RtcPeerConnectionClass }).RTCPeerConnection
    if (Connection === undefined) throw new RtcPeerError('connection-failed', 'this platform has no WebRTC')
    const pc = new Connection(o.config)
    this.pc = pc
    pc.onicecandidate = (e) => {
      const c = e.candidate
      // A null (or empty) candidate only says gathering is done: nothing to send.
      if (c === null || c.candidate === '') return
      this.emit('signal', {
        type: 'candidate',
        candidate: { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex },
      })
    }
    // 'disconnected' may recover by itself; the link's liveness probe decides about a silent peer.
    pc.oniceconnectionstatechange = () => {
      if (pc.iceConnectionState === 'failed') this.destroy(new RtcPeerError('ice-failed', 'ICE failed'))
      else if (pc.iceConnectionState === 'closed') this.destroy()
    }
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed')
        this.destroy(new RtcPeerError('connection-failed', 'the connection failed'))
    }
    // Created before the in-band channel, so the stream id is taken before that one is chosen.
    if (o.chatChannel === true)
      this.attachChat(
        pc.createDataChannel(chatChannelLabel, { ordered: true, negotiated: true, id: chatChannelId }),
      )
    if (o.initiator) {
      this.attach(pc.createDataChannel(channelLabel, o.channelConfig))
      this.step(() => this.offer())
    } else {
      pc.ondatachannel = (e) => {
        if (this.dc === null) this.attach(e.channel)
      }
    }
  }

  /** The data channel, once there is one (the responder gets it from the initiator). */
  get channel(): RTCDataChannel | null {
    return this.dc
  }

  /**
   * The chat channel, when this side made one and it is open. Chat frames travel on it so that
   * they never queue behind file data in the main channel's send buffer (the connection's SCTP
   * association takes turns between channels); whether the other side reads it is for the
   * caller to know (the link's hello says so).
   */
  get chatChannel(): RTCDataChannel | null {
    return this.chat?.readyState === 'open' ? this.chat : null
  }

  get connected(): boolean {
    return this.connectedFlag
  }

  get destroyed(): boolean {
    return this.destroyedFlag
  }

  /** Applies what the other side sent; a failure to apply it ends the connection. After `destroy`, nothing. */
  signal(data: RtcSignal): void {
    if (this.destroyedFlag) return
    switch (data.type) {
      case 'offer':
      case 'answer':
        this.step(() => this.remoteDescription(data.type, data.sdp))
        return
      case 'candidate':
        this.step(() => this.candidate(data.candidate))
        return
      default: {
        const unreachable: never = data
        return unreachable
      }
    }
  }

  /**
   * Sends on the data channel, or on the chat channel with `chat`.
   * @throws RtcPeerError 'not-open' unless that channel is open (and whatever the channel throws).
   */
  send(data: Uint8Array, chat = false): void {
    const dc = chat ? this.chat : this.dc
    if (this.destroyedFlag || dc?.readyState !== 'open')
      throw new RtcPeerError('not-open', 'the connection is not open')
    dc.send(data as Uint8Array<ArrayBuffer>)
  }

  /** Closes the channel and the connection; emits `error` (if given) and then `close`, once. */
  destroy(error?: RtcPeerError): void {
    if (this.destroyedFlag) return
    this.destroyedFlag = true
    this.connectedFlag = false
    const pc = this.pc
    // Nothing is closed twice: a browser ignores it, but Node's WebRTC (@roamhq/wrtc, the tests)
    // can crash closing a channel of a connection that is already closed.
    const pcClosed = pc.signalingState === 'closed'
    for (const dc of [this.dc, this.chat]) {
      if (dc === null) continue
      dc.onopen = dc.onclose = dc.onerror = dc.onmessage = null
      if (!pcClosed && dc.readyState !== 'closed' && dc.readyState !== 'closing') dc.close()
    }
    pc.onicecandidate = pc.oniceconnectionstatechange = pc.onconnectionstatechange = pc.ondatachannel = null
    if (!pcClosed) pc.close()
    // As the old library did: the events come after the caller's own clean-up, never inside it.
    queueMicrotask(() => {
      if (error !== undefined) this.emit('error', error)
      this.emit('close', undefined)
    })
  }

  private step(work: () => Promise<void>): void {
    this.steps = this.steps
      .then(() => (this.destroyedFlag ? undefined : work()))
      .catch((e: unknown) =>
        this.destroy(
          new RtcPeerError(
            'negotiation-failed',
            `negotiation failed: ${e instanceof Error ? e.message : String(e)}`,
            {
              cause: e,
            },
          ),
        ),
      )
  }

  private async offer(): Promise<void> {
    const offer = await this.pc.createOffer()
    if (this.destroyedFlag) return
    await this.pc.setLocalDescription(offer)
    if (this.destroyedFlag) return
    this.emit('signal', { type: 'offer', sdp: this.pc.localDescription?.sdp ?? offer.sdp ?? '' })
  }

  private async remoteDescription(type: 'offer' | 'answer', sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type, sdp })
    if (this.destroyedFlag) return
    for (const c of this.pending.splice(0)) await this.addCandidate(c)
    if (type === 'answer') return
    const answer = await this.pc.createAnswer()
    if (this.destroyedFlag) return
    await this.pc.setLocalDescription(answer)
    if (this.destroyedFlag) return
    this.emit('signal', { type: 'answer', sdp: this.pc.localDescription?.sdp ?? answer.sdp ?? '' })
  }

  private async candidate(c: RTCIceCandidateInit): Promise<void> {
    if (this.pc.remoteDescription === null) this.pending.push(c)
    else await this.addCandidate(c)
  }

  private async addCandidate(c: RTCIceCandidateInit): Promise<void> {
    try {
      await this.pc.addIceCandidate(c)
    } catch {
      // A candidate this side cannot use (an mDNS name it cannot resolve, a transport it lacks)
      // is one path fewer, not a failure: the others may work, and the connect timeout decides.
    }
  }

  private attach(dc: RTCDataChannel): void {
    this.dc = dc
    this.listen(dc, 'data')
    dc.onopen = () => this.opened()
    if (dc.readyState === 'open') this.opened()
  }

  private attachChat(dc: RTCDataChannel): void {
    this.chat = dc
    this.listen(dc, 'chat-data')
  }

  /** Either channel closing or failing ends the connection. */
  private listen(dc: RTCDataChannel, event: 'data' | 'chat-data'): void {
    dc.binaryType = 'arraybuffer'
    dc.onclose = () => this.destroy()
    dc.onerror = (e) => {
      const cause = (e as Event & { error?: unknown }).error
      const detail = cause instanceof Error ? cause.message : 'unknown'
      this.destroy(new RtcPeerError('channel-error', `data channel error: ${detail}`, { cause }))
    }
    dc.onmessage = (e: MessageEvent<unknown>) => {
      const d = e.data
      if (d instanceof ArrayBuffer) this.emit(event, new Uint8Array(d))
      else if (ArrayBuffer.isView(d)) this.emit(event, new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
      // Tincan sends only binary frames: text from the other side is not ours to read.
    }
  }

  private opened(): void {
    if (this.connectedFlag || this.destroyedFlag) return
    this.connectedFlag = true
    this.emit('connect', undefined)
  }
}
