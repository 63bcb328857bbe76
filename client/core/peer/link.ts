import {
  CryptoError,
  Handshake,
  RatchetSession,
  sdpFingerprints,
  sha256,
  toBase64Url,
  utf8Decode,
  utf8Encode,
  type CipherState,
  type Identity,
} from '../../../crypto/index.ts'
import { SendScheduler, type DataChannelLike, type SendSchedulerOptions } from './send-scheduler.ts'
import type { SessionStore } from './session-store.ts'
import type { RtcPeer } from './rtc-peer.ts'

// Data channel framing: one type byte, then the body.
//   0x01 Noise XX handshake message
//   0x02 hello, under the Noise transport key: JSON { resume: ratchet id | null }
//   0x03 Double Ratchet message (header + ciphertext)
const frameHandshake = 0x01
const frameHello = 0x02
const frameRatchet = 0x03
//   0x04 file chunk (see files/chunk-frame.ts): not inside the ratchet, each file has its own key
export const frameFileChunk = 0x04
//   0x05 liveness probe, 0x06 its answer (empty bodies; they say nothing but "still here")
const frameProbe = 0x05
const frameProbeAnswer = 0x06

/** Messages covered by one save on the sending side (well under the peer's skip bound of 2,000). */
const reserveMessages = 64
/** Delay before saving the state after receiving (bursts share one save). */
const saveDelayMs = 100

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

export type LinkState = 'connecting' | 'handshaking' | 'open' | 'closed'

/** Where the remote SDP says nothing, RFC 8841 lets us assume little; 16 KiB works everywhere. */
export const fallbackMaxMessageBytes = 16 * 1024
/** Browsers accept 256 KiB messages from each other; larger ones gain nothing. */
export const capMaxMessageBytes = 256 * 1024

/** The largest message the remote side accepts, from `a=max-message-size` in its SDP. */
export function maxMessageBytesFromSdp(sdp: string): number {
  const match = /^a=max-message-size:(\d+)/m.exec(sdp)
  if (match?.[1] === undefined) return fallbackMaxMessageBytes
  const n = Number(match[1])
  // 0 means "any size".
  return n === 0 ? capMaxMessageBytes : Math.min(n, capMaxMessageBytes)
}

export interface LinkEvents {
  open(): void
  message(plaintext: Uint8Array): void
  /** A file chunk frame (body after the type byte), on an open link only. */
  fileData(body: Uint8Array): void
  closed(reason: string, error?: CryptoError): void
}

/**
 * One WebRTC connection to one friend: the data channel, the Noise handshake bound to both DTLS
 * fingerprints and the session id, and then the Double Ratchet. The ratchet continues from the
 * stored state when both sides hold the same one; otherwise the handshake starts a new one.
 */
export class PeerLink {
  state: LinkState = 'connecting'
  /** Last chat message either way (idle connections close). */
  lastActivityMs = Date.now()
  /** Last frame of any kind from the peer (dead connections close). */
  lastHeardMs = Date.now()
  private probeTimer: ReturnType<typeof setTimeout> | undefined
  private handshake: Handshake | undefined
  private transport:
    | {
        send: CipherState
        receive: CipherState
        ratchetInit: ReturnType<Handshake['result']>['ratchetInit']
        hash: Uint8Array
      }
    | undefined
  private ratchet: RatchetSession | undefined
  private ratchetId = ''
  private localResume: string | null = null
  private remoteHello: { resume: string | null; chat: boolean } | undefined
  /**
   * Ratchet frames go on the chat channel: both sides opened it (their hellos say so). Decided
   * once per connection, so the frames of each direction stay on one ordered channel.
   */
  private useChat = false
  private helloSent = false
  /** Ratchet work runs one step at a time, in arrival order. */
  private chain: Promise<unknown> = Promise.resolve()
  /** The sending chain (our ratchet key) and message number up to which the latest save reaches. */
  private reservedChain = ''
  private reservedUntil = 0
  /** The same, for the latest save that has committed: only numbers below it may be used. */
  private committedChain = ''
  private committedUntil = 0
  /** The latest save in flight, if any (saves commit in the order they are made). */
  private saving: Promise<void> | undefined
  private saveTimer: ReturnType<typeof setTimeout> | undefined
  /** Bulk sender for file chunks, while the link is open. */
  scheduler: SendScheduler | undefined
  /** The largest data channel message the friend's side accepts. */
  maxMessageBytes = fallbackMaxMessageBytes
  /** The identity key the remote side proved in the handshake; undefined until it did. */
  authenticatedKey: Uint8Array | undefined
  private expectedKey: Uint8Array | undefined

  constructor(
    readonly peer: string,
    readonly sid: string,
    readonly role: 'initiator' | 'responder',
    readonly rtc: RtcPeer,
    private readonly identity: Identity,
    private readonly pinnedKey: () => Promise<Uint8Array | null>,
    private readonly sessions: SessionStore,
    private readonly events: LinkEvents,
    private readonly schedulerOptions: SendSchedulerOptions = {},
  ) {
    // Attach the data handler at once: frames that arrive before a late handler are lost.
    rtc.on('data', (data) => this.onData(data))
    // The chat channel carries ratchet frames only (see `useChat`).
    rtc.on('chat-data', (data) => {
      if (data[0] === frameRatchet) this.onData(data)
    })
    rtc.on('connect', () => void this.onConnect())
    rtc.on('close', () => this.close('connection closed'))
    rtc.on('error', (e) => this.close(`connection failed: ${e.message}`))
  }

  private async onConnect(): Promise<void> {
    try {
      const pinned = await this.pinnedKey()
      // Closed meanwhile (the connection dropped, or was replaced): nothing is left to set up.
      if (this.isClosed()) return
      if (pinned === null) throw new CryptoError('untrusted-key', `no accepted key for ${this.peer}`)
      this.expectedKey = pinned
      const local = sdpFingerprints(this.rtc.pc.localDescription?.sdp ?? '')[0]
      const remote = sdpFingerprints(this.rtc.pc.remoteDescription?.sdp ?? '')[0]
      if (local === undefined || remote === undefined)
        throw new CryptoError('fingerprint-mismatch', 'the connection has no DTLS fingerprint')
      this.localResume = (await this.sessions.load(this.peer))?.id ?? null
      if (this.isClosed()) return
      this.state = 'handshaking'
      this.handshake = new Handshake({
        role: this.role,
        identity: this.identity,
        sessionId: this.sid,
        initiatorFingerprint: this.role === 'initiator' ? local : remote,
        responderFingerprint: this.role === 'initiator' ? remote : local,
        pinnedRemoteIdentityKey: pinned,
      })
      if (this.handshake.isMyTurn) this.sendFrame(frameHandshake, this.handshake.writeMessage())
      this.drainEarly()
    } catch (e: unknown) {
      this.fail(e)
    }
  }

  private early: Uint8Array[] = []

  private drainEarly(): void {
    const frames = this.early
    this.early = []
    for (const f of frames) this.onData(f)
  }

  private onData(data: Uint8Array): void {
    if (this.state === 'closed') return
    if (this.handshake === undefined) {
      // The remote side can finish connecting first and send its first handshake message
      // before our 'connect' fires; keep it until the handshake exists.
      this.early.push(data)
      return
    }
    this.lastHeardMs = Date.now()
    clearTimeout(this.probeTimer)
    this.probeTimer = undefined
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data)
    const type = bytes[0]
    const body = bytes.subarray(1)
    try {
      switch (type) {
        case frameHandshake:
          this.onHandshake(body)
          return
        case frameHello:
          this.onHello(body)
          return
        case frameProbe:
          this.sendFrame(frameProbeAnswer, new Uint8Array(0))
          return
        case frameProbeAnswer:
          return
        case frameRatchet:
          this.chain = this.chain.then(() => this.onRatchet(body)).catch((e: unknown) => this.fail(e))
          return
        case frameFileChunk:
          // Only a transfer accepted over this link's ratchet can make sense of it.
          if (this.state === 'open') this.events.fileData(body)
          return
        case undefined:
        default:
          throw new CryptoError('bad-format', 'unknown frame type')
      }
    } catch (e: unknown) {
      this.fail(e)
    }
  }

  private onHandshake(body: Uint8Array): void {
    const hs = this.handshake
    if (hs === undefined || hs.isComplete) throw new CryptoError('bad-state', 'unexpected handshake message')
    hs.readMessage(body)
    if (hs.isMyTurn) this.sendFrame(frameHandshake, hs.writeMessage())
    if (hs.isComplete) this.onHandshakeComplete()
  }

  private onHandshakeComplete(): void {
    const r = this.handshake?.result()
    if (r === undefined) return
    // The handshake aborts unless the remote side proves the key it was given (pinnedRemoteIdentityKey).
    this.authenticatedKey = this.expectedKey
    this.transport = { send: r.send, receive: r.receive, ratchetInit: r.ratchetInit, hash: r.handshakeHash }
    // `chat`: this side reads ratchet frames on the chat channel (older clients neither send nor read it).
    const hello = { resume: this.localResume, chat: this.rtc.chatChannel !== null }
    this.sendFrame(frameHello, r.send.encrypt(utf8Encode(JSON.stringify(hello))))
    this.helloSent = true
    if (this.remoteHello !== undefined) this.enqueueChoice()
  }

  private onHello(body: Uint8Array): void {
    if (this.transport === undefined) throw new CryptoError('bad-state', 'hello before handshake')
    const hello = JSON.parse(utf8Decode(this.transport.receive.decrypt(body))) as {
      resume?: unknown
      chat?: unknown
    }
    this.remoteHello = {
      resume: typeof hello.resume === 'string' ? hello.resume : null,
      chat: hello.chat === true,
    }
    if (this.helloSent) this.enqueueChoice()
  }

  /** Ratchet frames queue behind the choice, so none is read before the ratchet exists. */
  private enqueueChoice(): void {
    this.chain = this.chain.then(() => this.chooseRatchet())
  }

  /** Both sides apply the same rule: resume only if both hold the same ratchet. */
  private async chooseRatchet(): Promise<void> {
    const t = this.transport
    if (t === undefined || this.ratchet !== undefined) return
    try {
      const stored = await this.sessions.load(this.peer)
      if (
        stored !== undefined &&
        this.localResume !== null &&
        this.remoteHello?.resume === this.localResume
      ) {
        this.ratchet = RatchetSession.restore(stored.state)
        this.ratchetId = stored.id
      } else {
        this.ratchet = RatchetSession.create(t.ratchetInit)
        this.ratchetId = toBase64Url(sha256(t.hash)).slice(0, 22)
        await this.persist()
      }
      // Closed while the ratchet was read or saved: a closed link never opens again.
      if (this.isClosed()) return
      this.useChat = this.remoteHello?.chat === true && this.rtc.chatChannel !== null
      this.state = 'open'
      this.lastActivityMs = Date.now()
      this.maxMessageBytes = maxMessageBytesFromSdp(this.rtc.pc.remoteDescription?.sdp ?? '')
      const channel = this.rtc.channel
      if (channel !== null)
        this.scheduler = new SendScheduler(
          channel as unknown as DataChannelLike,
          (e) => this.close(`sending failed: ${e instanceof Error ? e.message : String(e)}`),
          this.schedulerOptions,
        )
      this.events.open()
    } catch (e: unknown) {
      this.fail(e)
    }
  }

  /**
   * Saves the ratchet. While a reservation is held the saved state is `reservedUntil` messages
   * into the sending chain, ahead of the live one, so a crash can never make us reuse a key.
   * The state is taken now and the save is not waited for here: IndexedDB commits the saves in
   * the order they are made, so the latest one wins, and `send` waits only while the committed
   * reservation does not cover the next message number.
   */
  private persist(): Promise<void> {
    const r = this.ratchet
    if (r === undefined) return Promise.resolve()
    clearTimeout(this.saveTimer)
    this.saveTimer = undefined
    const chain = toBase64Url(r.ratchetPublicKey)
    const until = this.reservedChain === chain ? this.reservedUntil : r.sendCount
    const saved = this.sessions
      .save(this.peer, { id: this.ratchetId, state: r.toJsonAhead(until - r.sendCount) })
      .then(() => {
        if (chain !== this.committedChain || until > this.committedUntil) {
          this.committedChain = chain
          this.committedUntil = until
        }
        if (this.saving === saved) this.saving = undefined
      })
    this.saving = saved
    return saved
  }

  /** Reserves the next `reserveMessages` numbers of the current sending chain; the save runs in the background. */
  private reserve(): void {
    const r = this.ratchet
    if (r === undefined || this.state === 'closed') return
    this.reservedChain = toBase64Url(r.ratchetPublicKey)
    this.reservedUntil = r.sendCount + reserveMessages
    this.persist().catch((e: unknown) => this.fail(e))
  }

  /** Receiving only moves the receiving chain: saving it can wait a little and cover a burst. */
  private persistSoon(): void {
    this.saveTimer ??= setTimeout(() => {
      this.saveTimer = undefined
      if (this.state !== 'closed') this.persist().catch((e: unknown) => this.fail(e))
    }, saveDelayMs)
  }

  private onRatchet(body: Uint8Array): void {
    const ratchet = this.ratchet
    if (ratchet === undefined || this.state !== 'open')
      throw new CryptoError('bad-state', 'message before the session opened')
    const sendCountBefore = ratchet.sendCount
    const keyBefore = ratchet.ratchetPublicKey
    const plaintext = ratchet.decrypt(body)
    // A new ratchet key from the friend starts a new sending chain here: reserve its first numbers
    // now, so that our next message (an answer, a receipt) need not wait for the save.
    if (ratchet.sendCount !== sendCountBefore || !sameBytes(ratchet.ratchetPublicKey, keyBefore))
      this.reserve()
    else this.persistSoon()
    this.lastActivityMs = Date.now()
    this.events.message(plaintext)
  }

  /**
   * Encrypts and sends; resolves false if the link is not open. A message number is used only
   * once a save that reaches past it has committed (see `persist`); halfway through a
   * reservation the next one is saved ahead, so a steady stream of messages never waits.
   */
  send(plaintext: Uint8Array): Promise<boolean> {
    const run = this.chain.then(async () => {
      const ratchet = this.ratchet
      if (ratchet === undefined || this.state !== 'open') return false
      const chain = toBase64Url(ratchet.ratchetPublicKey)
      if (chain !== this.reservedChain || ratchet.sendCount >= this.reservedUntil) this.reserve()
      else if (this.saving === undefined && ratchet.sendCount >= this.reservedUntil - reserveMessages / 2)
        this.reserve()
      while (chain !== this.committedChain || ratchet.sendCount >= this.committedUntil) {
        const saving = this.saving
        // Closed, or the save failed (the link is failing with it).
        if (saving === undefined || this.state !== 'open') return false
        await saving
      }
      const ciphertext = ratchet.encrypt(plaintext)
      if (this.state !== 'open') return false
      this.sendFrame(frameRatchet, ciphertext, this.useChat)
      this.lastActivityMs = Date.now()
      return true
    })
    this.chain = run.catch(() => undefined)
    return run.catch((e: unknown) => {
      this.fail(e)
      return false
    })
  }

  /**
   * Asks the peer to answer within `timeoutMs`, and closes the link if nothing comes back. A
   * channel whose peer vanished (tab closed, network gone) can look open for half a minute;
   * messages sent into it would wait for that long. Before the channel opens there is nothing to
   * probe (sending would fail and end an attempt that may be fine); the connect timeout covers it.
   */
  probe(timeoutMs: number): void {
    if (this.state === 'closed' || this.state === 'connecting' || this.probeTimer !== undefined) return
    try {
      this.sendFrame(frameProbe, new Uint8Array(0))
    } catch {
      this.close('connection lost')
      return
    }
    this.probeTimer = setTimeout(() => this.close('peer stopped answering'), timeoutMs)
  }

  private sendFrame(type: number, body: Uint8Array, chat = false): void {
    const frame = new Uint8Array(body.length + 1)
    frame[0] = type
    frame.set(body, 1)
    this.rtc.send(frame, chat)
  }

  /**
   * A CryptoError is a refusal: the friend (or whoever is in the middle) is told nothing, the
   * user's client reports it. Anything else is the connection breaking under a step (simple-peer
   * destroyed, a channel closed): connection trouble, retried like a dropped connection, and only
   * the console hears of it — its text is no reason to alarm anyone.
   */
  private fail(e: unknown): void {
    if (e instanceof CryptoError) {
      this.close(e.message, e)
      return
    }
    if (this.state !== 'closed') console.warn(`the connection to ${this.peer} failed`, e)
    this.close('connection failed')
  }

  /** A method, not a comparison: `state` changes while a step awaits, which narrowing does not see. */
  private isClosed(): boolean {
    return this.state === 'closed'
  }

  close(reason: string, error?: CryptoError): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    // No more messages can go out on this link: save the exact state, so a resumed ratchet
    // does not skip the reserved numbers.
    clearTimeout(this.probeTimer)
    this.scheduler?.close()
    clearTimeout(this.saveTimer)
    this.saveTimer = undefined
    this.reservedChain = ''
    if (this.ratchet !== undefined) this.chain = this.chain.then(() => this.persist()).catch(() => undefined)
    this.rtc.destroy()
    this.events.closed(reason, error)
  }
}
