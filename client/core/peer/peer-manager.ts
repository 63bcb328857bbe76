import {
  CryptoError,
  randomBytes,
  sdpFingerprints,
  signEnvelope,
  toBase64Url,
  verifyEnvelope,
  type CryptoErrorCode,
  type EnvelopeType,
  type Identity,
} from '../../../crypto/index.ts'
import type { IceConfig } from '../../../shared/index.ts'
import { Emitter } from '../emitter.ts'
import type { PeerTransport } from '../messenger.ts'
import type { SignalingConnection } from '../signaling.ts'
import type { Db } from '../store/db.ts'
import type { Trust } from '../trust.ts'
import { EarlyCandidates } from './early-candidates.ts'
import { PeerLink } from './link.ts'
import type { SendScheduler, SendSchedulerOptions } from './send-scheduler.ts'
import { SessionStore } from './session-store.ts'
import { RtcPeer, type RtcPeerConnectionClass, type RtcSignal } from './rtc-peer.ts'

export type PeerState = 'idle' | 'connecting' | 'open'

export interface PeerManagerEnv {
  /** `@roamhq/wrtc`'s in Node; the browser's own when left out. */
  readonly RTCPeerConnection?: RtcPeerConnectionClass
  /** This device's long-lived DTLS certificate (browser: kept in IndexedDB); undefined where unsupported. */
  readonly certificate?: () => Promise<RTCCertificate | undefined>
  readonly connectTimeoutMs?: number
  /** Connections with no message either way for this long are closed. */
  readonly idleTimeoutMs?: number
  /** High- and low-water marks for file data on each connection. */
  readonly flowControl?: SendSchedulerOptions
  /** Open the chat channel beside the data channel (default); false behaves as older clients did. */
  readonly chatChannel?: boolean
}

/** What a file transfer needs from an open connection. */
export interface FileLink {
  /** Names this connection: a transfer runs on one connection and starts over on the next. */
  readonly sid: string
  /** The largest message the friend's side accepts. */
  readonly maxMessageBytes: number
  readonly scheduler: SendScheduler
}

export interface PeerManagerEvents extends Record<string, unknown> {
  open: { peer: string }
  /** `identityKey`: the key the connection's remote side proved in its handshake. */
  message: { peer: string; plaintext: Uint8Array; identityKey: Uint8Array }
  /** A file chunk frame from the friend (body after the type byte). */
  'file-data': { peer: string; data: Uint8Array }
  state: { peer: string; state: PeerState }
  /** A connection was refused or failed verification; `message` is for the console. */
  error: { peer: string; code: CryptoErrorCode; message: string }
}

export interface PeerManagerOptions {
  readonly me: string
  readonly identity: Identity
  readonly signaling: SignalingConnection
  readonly trust: Trust
  readonly db: Db
  readonly vaultKey: Uint8Array
  readonly iceConfig: () => Promise<IceConfig>
  readonly env: PeerManagerEnv
}

/** Quiet connections are probed this often, and must answer within probeTimeoutMs. */
const keepaliveMs = 10_000
const probeTimeoutMs = 4_000

interface Outgoing {
  seq: number
  fingerprints: string[]
}

/**
 * The client's one module for reaching friends directly. Every offer, answer and candidate
 * travels in an envelope signed by our identity key and is checked against the friend's pinned
 * key; then each connection runs the handshake and the ratchet (see link.ts). When both sides
 * call at once, the side with the smaller username keeps its own call. Broken connections are
 * re-established with backoff while the friend is wanted; idle ones close.
 */
export class PeerManager extends Emitter<PeerManagerEvents> implements PeerTransport {
  private readonly links = new Map<string, PeerLink>()
  private readonly outgoing = new Map<string, Outgoing>()
  private readonly wanted = new Map<string, { attempt: number; timer?: ReturnType<typeof setTimeout> }>()
  private readonly sessions: SessionStore
  private readonly inbound = new Map<string, Promise<void>>()
  private readonly early = new EarlyCandidates()
  private readonly idleTimer: ReturnType<typeof setInterval>
  private closed = false

  constructor(private readonly o: PeerManagerOptions) {
    super()
    this.sessions = new SessionStore(o.db, o.vaultKey)
    o.signaling.on('signal', (f) => {
      // One envelope at a time per friend: an offer must set up its link before the candidates.
      const prev = this.inbound.get(f.from) ?? Promise.resolve()
      // A signal that cannot be applied (a malformed candidate, a link already torn down) is
      // dropped; it must not stop the friend's later signals from being handled.
      const next = prev.then(() =>
        this.onSignal(f.from, f.sid, f.envelope).catch((e: unknown) =>
          console.warn(`a signal from ${f.from} could not be applied`, e),
        ),
      )
      this.inbound.set(f.from, next)
      void next.finally(() => {
        if (this.inbound.get(f.from) === next) this.inbound.delete(f.from)
      })
    })
    const idleMs = o.env.idleTimeoutMs ?? 5 * 60_000
    this.idleTimer = setInterval(
      () => {
        const now = Date.now()
        for (const link of this.links.values()) {
          if (link.state !== 'open') continue
          if (now - link.lastActivityMs > idleMs) {
            this.wanted.delete(link.peer)
            link.close('idle')
          } else if (now - link.lastHeardMs > keepaliveMs) link.probe(probeTimeoutMs)
        }
      },
      Math.min(keepaliveMs, idleMs),
    )
    // The server saw the friend's connection come or go: an open channel may be a dead one.
    o.signaling.on('presence', (f) => this.links.get(f.username)?.probe(probeTimeoutMs))
  }

  state(peer: string): PeerState {
    const link = this.links.get(peer)
    if (link === undefined || link.state === 'closed') return 'idle'
    return link.state === 'open' ? 'open' : 'connecting'
  }

  isOpen(peer: string): boolean {
    return this.links.get(peer)?.state === 'open'
  }

  /**
   * The identity key the open connection's remote side proved in its handshake: who is really at
   * the other end, whatever the trust store says now. Undefined when no connection is open.
   */
  authenticatedKey(peer: string): Uint8Array | undefined {
    const link = this.links.get(peer)
    return link?.state === 'open' ? link.authenticatedKey : undefined
  }

  /** The open connection to the friend, for file chunks; undefined when there is none. */
  fileLink(peer: string): FileLink | undefined {
    const link = this.links.get(peer)
    if (link === undefined || link.state !== 'open' || link.scheduler === undefined) return undefined
    return { sid: link.sid, maxMessageBytes: link.maxMessageBytes, scheduler: link.scheduler }
  }

  async send(peer: string, plaintext: Uint8Array): Promise<boolean> {
    const link = this.links.get(peer)
    if (link === undefined || link.state !== 'open') return false
    return link.send(plaintext)
  }

  /** Starts a connection if there is none; keeps retrying while the friend stays wanted. */
  connect(peer: string): void {
    if (this.closed) return
    if (!this.wanted.has(peer)) this.wanted.set(peer, { attempt: 0 })
    const link = this.links.get(peer)
    if (link !== undefined && link.state !== 'closed') return
    if (!this.o.signaling.online.has(peer)) return
    this.call(peer).catch(() => this.scheduleRetry(peer))
  }

  /** The friend's presence went away: stop retrying (an open channel keeps working). */
  peerWentOffline(peer: string): void {
    const w = this.wanted.get(peer)
    if (w?.timer !== undefined) clearTimeout(w.timer)
    if (w !== undefined) w.attempt = 0
  }

  disconnect(peer: string): void {
    const w = this.wanted.get(peer)
    if (w?.timer !== undefined) clearTimeout(w.timer)
    this.wanted.delete(peer)
    this.early.forget(peer)
    this.links.get(peer)?.close('disconnected')
  }

  close(): void {
    this.closed = true
    clearInterval(this.idleTimer)
    for (const peer of [...this.wanted.keys()]) this.disconnect(peer)
    for (const link of this.links.values()) link.close('closed')
  }

  private async rtcConfig(): Promise<RTCConfiguration> {
    // No fallback: without the server's ICE settings a relay-only user would reveal their address.
    const ice = await this.o.iceConfig()
    const cert = await this.o.env.certificate?.()
    return {
      iceServers: ice.iceServers.map((s) => ({ ...s })),
      iceTransportPolicy: ice.iceTransportPolicy,
      ...(cert === undefined ? {} : { certificates: [cert] }),
    }
  }

  private async call(peer: string): Promise<void> {
    const sid = toBase64Url(randomBytes(16))
    await this.startLink(peer, sid, 'initiator')
  }

  private async startLink(peer: string, sid: string, role: 'initiator' | 'responder'): Promise<PeerLink> {
    const config = await this.rtcConfig()
    const rtc = new RtcPeer({
      initiator: role === 'initiator',
      config,
      channelConfig: { ordered: true },
      chatChannel: this.o.env.chatChannel ?? true,
      ...(this.o.env.RTCPeerConnection === undefined
        ? {}
        : { RTCPeerConnection: this.o.env.RTCPeerConnection }),
    })
    const previous = this.links.get(peer)
    const link: PeerLink = new PeerLink(
      peer,
      sid,
      role,
      rtc,
      this.o.identity,
      () => this.o.trust.pinnedIdentityKey(peer),
      this.sessions,
      {
        open: () => {
          clearTimeout(timeout)
          const w = this.wanted.get(peer)
          if (w !== undefined) w.attempt = 0
          this.emit('state', { peer, state: 'open' })
          this.emit('open', { peer })
        },
        message: (plaintext) => {
          // Set before the link opened: a message only comes over an authenticated link.
          const identityKey = link.authenticatedKey
          if (identityKey !== undefined) this.emit('message', { peer, plaintext, identityKey })
        },
        fileData: (data) => this.emit('file-data', { peer, data }),
        closed: (reason, error) => {
          clearTimeout(timeout)
          this.outgoing.delete(sid)
          if (this.links.get(peer) === link) {
            this.links.delete(peer)
            this.emit('state', { peer, state: 'idle' })
          }
          if (error !== undefined) this.emit('error', { peer, code: error.code, message: error.message })
          if (reason !== 'replaced' && reason !== 'disconnected' && reason !== 'idle')
            this.scheduleRetry(peer)
        },
      },
      this.o.env.flowControl,
    )
    this.links.set(peer, link)
    if (previous !== undefined && previous !== link) previous.close('replaced')
    this.outgoing.set(sid, { seq: 0, fingerprints: [] })
    const timeout = setTimeout(
      () => link.close('timed out connecting'),
      this.o.env.connectTimeoutMs ?? 20_000,
    )
    rtc.on('signal', (data) => void this.sendSignal(peer, sid, data))
    this.emit('state', { peer, state: 'connecting' })
    return link
  }

  private scheduleRetry(peer: string): void {
    const w = this.wanted.get(peer)
    if (w === undefined || this.closed) return
    if (w.timer !== undefined) clearTimeout(w.timer)
    const delay = Math.floor(Math.random() * Math.min(30_000, 1000 * 2 ** w.attempt))
    w.attempt++
    w.timer = setTimeout(() => this.connect(peer), delay)
  }

  private async sendSignal(peer: string, sid: string, data: RtcSignal): Promise<void> {
    const out = this.outgoing.get(sid)
    if (out === undefined) return
    let type: EnvelopeType
    let payload: string
    if (data.type === 'candidate') {
      type = 'candidate'
      payload = JSON.stringify(data.candidate)
    } else {
      type = data.type
      payload = data.sdp
      out.fingerprints = sdpFingerprints(payload)
    }
    out.seq++
    const envelope = signEnvelope(this.o.identity.identityKey, {
      type,
      from: this.o.me,
      to: peer,
      sessionId: sid,
      sequence: out.seq,
      timestampMs: Date.now(),
      fingerprints: out.fingerprints,
      payload,
    })
    const result = await this.o.signaling.sendSignal(peer, sid, JSON.stringify(envelope))
    // Only the attempt the signal belonged to can fail for it, and only while it is still being
    // set up: an acknowledgment lost or refused late says nothing about a connection that works.
    const link = this.links.get(peer)
    if (!result.ok && type !== 'candidate' && link?.sid === sid && link.state !== 'open')
      link.close(`signal not delivered: ${result.code}`)
  }

  private async onSignal(from: string, sid: string, raw: string): Promise<void> {
    if (this.closed) return
    let verified
    try {
      verified = await verifyEnvelope(JSON.parse(raw) as unknown, {
        me: this.o.me,
        pins: this.o.trust,
        sequences: this.sessions,
        nowMs: () => Date.now(),
      })
      if (verified.from !== from || verified.sessionId !== sid)
        throw new CryptoError('bad-signature', 'envelope does not match the relay frame')
    } catch (e: unknown) {
      // The relay delivered an envelope already acted on again (say it re-sent it after losing
      // the acknowledgment): nothing new, nothing to warn about, and the attempt goes on.
      if (CryptoError.is(e, 'duplicate')) return
      const error =
        e instanceof CryptoError
          ? e
          : new CryptoError('bad-format', 'unreadable signaling envelope', { cause: e })
      this.emit('error', {
        peer: from,
        code: error.code,
        message: `refused a connection attempt: ${error.message}`,
      })
      const link = this.links.get(from)
      // An attempt being set up is abandoned. An open connection was proven by its own handshake
      // and stays: a refused envelope (say an old one replayed) must not be a way to cut it.
      if (link !== undefined && link.sid === sid && link.state !== 'open') link.close('refused', error)
      return
    }
    const current = this.links.get(from)
    switch (verified.type) {
      case 'offer': {
        const early = this.early.take(from, sid)
        if (current !== undefined && current.state !== 'closed' && current.sid !== sid) {
          // Both called at once: the smaller username keeps its own call.
          if (current.role === 'initiator' && current.state !== 'open' && this.o.me < from) return
        }
        if (!this.wanted.has(from)) this.wanted.set(from, { attempt: 0 })
        const link = await this.startLink(from, sid, 'responder')
        link.rtc.signal({ type: 'offer', sdp: verified.payload })
        for (const candidate of early)
          link.rtc.signal({ type: 'candidate', candidate: parseCandidate(candidate) })
        return
      }
      case 'answer':
        if (current?.sid === sid && current.role === 'initiator')
          current.rtc.signal({ type: 'answer', sdp: verified.payload })
        return
      case 'candidate':
        // Before its answer the connection keeps it (rtc-peer.ts); before its offer there is no link yet.
        if (current?.sid === sid)
          current.rtc.signal({ type: 'candidate', candidate: parseCandidate(verified.payload) })
        else this.early.keep(from, sid, verified.payload)
        return
      case 'bye':
        if (current?.sid === sid) current.close('closed by peer')
        return
      default: {
        const unreachable: never = verified.type
        return unreachable
      }
    }
  }
}

function parseCandidate(payload: string): RTCIceCandidateInit {
  return JSON.parse(payload) as RTCIceCandidateInit
}
