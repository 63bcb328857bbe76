import type { SafetyNumberView, SafetyScanResult, TincanClient } from '../../../../core/index.ts'
import { errorText } from '../errors.ts'
import { toasts } from './toasts.svelte.ts'

/** Safety numbers, verification and accepting a friend's new key. */
class SafetyState {
  peer = $state<string | undefined>()
  view = $state.raw<SafetyNumberView | undefined>()
  private client: TincanClient | undefined

  attach(client: TincanClient): void {
    this.client = client
  }

  detach(): void {
    this.client = undefined
    this.peer = undefined
    this.view = undefined
  }

  async load(peer: string): Promise<void> {
    const client = this.client
    if (client === undefined) return
    this.peer = peer
    this.view = undefined
    try {
      const view = await client.safetyNumber(peer)
      if (this.peer === peer) this.view = view
    } catch (e: unknown) {
      toasts.error(errorText(e))
    }
  }

  async setVerified(peer: string, verified: boolean): Promise<void> {
    const client = this.client
    if (client === undefined) return
    try {
      await client.setVerified(peer, verified)
      if (this.peer === peer && this.view !== undefined) this.view = { ...this.view, verified }
    } catch (e: unknown) {
      toasts.error(errorText(e))
    }
  }

  /**
   * Checks a QR code read by the camera against the friend's safety number (the client computes
   * the code their device must show); a match marks them verified. Undefined if the check failed.
   */
  async checkScan(peer: string, scanned: string): Promise<SafetyScanResult | undefined> {
    const client = this.client
    if (client === undefined) return undefined
    try {
      const result = await client.scanSafetyQr(peer, scanned)
      if (result === 'verified' && this.peer === peer && this.view !== undefined)
        this.view = { ...this.view, verified: true }
      return result
    } catch (e: unknown) {
      toasts.error(errorText(e))
      return undefined
    }
  }

  /** Trusts the key the server reported (a friend's new key, or an unconfirmed friend's): sending resumes. */
  async acceptKeyChange(peer: string): Promise<void> {
    await this.decide(peer, (client) => client.acceptKeyChange(peer))
  }

  /** Keeps the pinned key over the reported one: sending resumes, the safety number stays. */
  async keepPinnedKey(peer: string): Promise<void> {
    await this.decide(peer, (client) => client.keepPinnedKey(peer))
  }

  private async decide(peer: string, decision: (client: TincanClient) => Promise<void>): Promise<void> {
    const client = this.client
    if (client === undefined) return
    try {
      await decision(client)
      if (this.peer === peer) await this.load(peer)
    } catch (e: unknown) {
      toasts.error(errorText(e))
    }
  }
}

export const safetyState = new SafetyState()
