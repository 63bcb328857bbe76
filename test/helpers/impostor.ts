import { Emitter } from '../../client/core/emitter.ts'
import { PeerManager } from '../../client/core/peer/peer-manager.ts'
import type { SignalingConnection, SignalingEvents, SignalResult } from '../../client/core/signaling.ts'
import { openHistoryDb } from '../../client/core/store/databases.ts'
import type { Trust } from '../../client/core/trust.ts'
import { generateIdentity, randomBytes, toBase64Url, utf8Decode, type Identity } from '../../crypto/index.ts'
import type { ClientEnv } from '../../client/core/client.ts'
import type { WsProxy } from './ws-proxy.ts'

/** The signaling side of an impostor: its signals reach the victim only through the hostile relay. */
class RelayedSignaling extends Emitter<SignalingEvents> {
  readonly online = new Set<string>()

  constructor(private readonly send: (to: string, sid: string, envelope: string) => void) {
    super()
  }

  sendSignal(to: string, sid: string, envelope: string): Promise<SignalResult> {
    this.send(to, sid, envelope)
    return Promise.resolve({ ok: true })
  }

  receive(frame: SignalingEvents['signal']): void {
    this.emit('signal', frame)
  }
}

/** A decrypted frame the impostor received, parsed. */
export interface Received {
  readonly type: string
  readonly [field: string]: unknown
}

/**
 * An attacker's endpoint, built from the project's own peer layer with its own identity key, that
 * poses as `posingAs` towards one victim. A malicious server (the victim's hostile relay, `proxy`)
 * carries its signals: it injects them as if they came from `posingAs`, and hands it every signal
 * the victim addresses to `posingAs`. It records every frame it manages to decrypt.
 */
export class Impostor {
  readonly identity: Identity = generateIdentity()
  readonly received: Received[] = []
  readonly opened: string[] = []
  /** Calls that ended without opening (refused, or never answered). */
  failedCalls = 0
  private readonly signaling: RelayedSignaling
  private peers: PeerManager | undefined

  constructor(
    private readonly posingAs: string,
    private readonly victim: { readonly username: string; readonly identityKey: Uint8Array },
    private readonly proxy: WsProxy,
  ) {
    this.signaling = new RelayedSignaling((_to, sid, envelope) =>
      proxy.inject({ type: 'signal', from: posingAs, sid, envelope }),
    )
    this.signaling.online.add(victim.username)
  }

  get identityKey(): string {
    return toBase64Url(this.identity.identityKey.publicKey)
  }

  /**
   * Takes over the victim's signals to `posingAs` (the relay acknowledges them as sent) and starts
   * the peer layer. Call before `call()`.
   */
  async start(env: ClientEnv): Promise<void> {
    const previous = this.proxy.tamper
    this.proxy.tamper = (frame, direction, connection) => {
      if (direction === 'to-server' && frame['type'] === 'signal' && frame['to'] === this.posingAs) {
        this.signaling.receive({
          type: 'signal',
          from: this.victim.username,
          sid: frame['sid'] as string,
          envelope: frame['envelope'] as string,
        })
        if (typeof frame['ref'] === 'string') this.proxy.inject({ type: 'sent', ref: frame['ref'] })
        return null
      }
      return previous(frame, direction, connection)
    }
    const victim = this.victim
    // The impostor trusts the victim's real key: it knows it, the server hands it out.
    const pins = {
      pinnedIdentityKey: (u: string) => Promise.resolve(u === victim.username ? victim.identityKey : null),
    }
    const peers = new PeerManager({
      me: this.posingAs,
      identity: this.identity,
      signaling: this.signaling as unknown as SignalingConnection,
      trust: pins as unknown as Trust,
      db: await openHistoryDb(`impostor-${toBase64Url(randomBytes(8))}`),
      vaultKey: randomBytes(32),
      iceConfig: () => Promise.resolve({ iceServers: [], iceTransportPolicy: 'all' }),
      // A call the victim refuses is not answered: give it up soon.
      env: { ...env.peers, connectTimeoutMs: 4_000 },
    })
    peers.on('open', ({ peer }) => this.opened.push(peer))
    let calling = false
    peers.on('state', ({ state }) => {
      if (state === 'connecting') calling = true
      else if (state === 'idle' && calling) this.failedCalls++
      if (state !== 'connecting') calling = false
    })
    peers.on('message', ({ plaintext }) => {
      try {
        this.received.push(JSON.parse(utf8Decode(plaintext)) as Received)
      } catch {
        this.received.push({ type: 'unreadable' })
      }
    })
    this.peers = peers
  }

  /** Calls the victim (an offer signed with the impostor's key, claiming to come from `posingAs`). */
  call(): void {
    // One call at a time, made here: no retries of its own in between.
    this.peers?.disconnect(this.victim.username)
    this.peers?.connect(this.victim.username)
  }

  /** Sends a decrypted frame on the open connection, if there is one. */
  async send(frame: Record<string, unknown>): Promise<boolean> {
    return (
      (await this.peers?.send(this.victim.username, new TextEncoder().encode(JSON.stringify(frame)))) ?? false
    )
  }

  close(): void {
    this.peers?.close()
  }
}
