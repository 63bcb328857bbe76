import { envelopeWindowMs, sequenceWindow } from '../../../crypto/index.ts'

/** Sessions per friend whose offer has not come yet; a new call replaces an older one. */
const maxSessionsPerPeer = 2

/**
 * ICE candidates verified before the offer of their session. The relay may deliver a session's
 * envelopes in any order (their sequence numbers say which came first); a candidate that
 * arrives before its offer is kept here and applied once the offer has set up the connection,
 * instead of being lost. Bounded per friend, and forgotten once its envelope would be stale.
 */
export class EarlyCandidates {
  private readonly byPeer = new Map<string, Map<string, { atMs: number; candidates: string[] }>>()

  constructor(private readonly nowMs: () => number = Date.now) {}

  keep(peer: string, sid: string, candidate: string): void {
    const sessions = this.byPeer.get(peer) ?? new Map<string, { atMs: number; candidates: string[] }>()
    this.byPeer.set(peer, sessions)
    this.expire(sessions)
    let session = sessions.get(sid)
    if (session === undefined) {
      session = { atMs: this.nowMs(), candidates: [] }
      sessions.set(sid, session)
      // Maps iterate in insertion order: the first key is the oldest session.
      const oldest = sessions.keys().next().value
      if (sessions.size > maxSessionsPerPeer && oldest !== undefined) sessions.delete(oldest)
    }
    // Beyond the sequence window the offer would be refused anyway.
    if (session.candidates.length < sequenceWindow) session.candidates.push(candidate)
  }

  /** The candidates kept for this session, in arrival order; forgets them. */
  take(peer: string, sid: string): string[] {
    const sessions = this.byPeer.get(peer)
    if (sessions === undefined) return []
    this.expire(sessions)
    const session = sessions.get(sid)
    sessions.delete(sid)
    if (sessions.size === 0) this.byPeer.delete(peer)
    return session?.candidates ?? []
  }

  forget(peer: string): void {
    this.byPeer.delete(peer)
  }

  private expire(sessions: Map<string, { atMs: number }>): void {
    const now = this.nowMs()
    for (const [sid, s] of sessions) if (now - s.atMs > envelopeWindowMs) sessions.delete(sid)
  }
}
