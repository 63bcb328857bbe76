import {
  judgeFirstCheck,
  judgeLaterCheck,
  strongerAlert,
  warningCauses,
  type ReleaseAlert,
  type RememberedRelease,
  type RunningClient,
  type WarningCause,
} from './release-watch.ts'
import type { ServedCheck, ServedRelease } from './served-release.ts'

/** The name every tab of the origin shares (BroadcastChannel). */
export const releaseChannelName = 'tincan-release'

/** The part of BroadcastChannel the monitor uses. */
export interface ReleaseChannel {
  postMessage(message: unknown): void
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void
  close(): void
}

export interface ReleaseMemory {
  read(): RememberedRelease | undefined
  write(release: RememberedRelease): void
}

export interface ReleaseMonitorDeps {
  readonly running: RunningClient
  readonly check: () => Promise<ServedCheck>
  readonly memory: ReleaseMemory
  readonly channel?: ReleaseChannel
  readonly onChange?: (state: ReleaseMonitorState) => void
  readonly now?: () => number
}

export interface ReleaseMonitorState {
  /** `checking` until a check gets an answer; `unreachable` while none has. */
  readonly status: 'checking' | 'checked' | 'unreachable'
  /** The release this page was verified to be. */
  readonly running: ServedRelease | undefined
  readonly alert: ReleaseAlert
  /** Checks that got an answer from the server. */
  readonly checks: number
  readonly lastCheckedAt: number | undefined
}

/** What tabs tell each other. A message can raise a warning or ask for a check; it can never clear one. */
type TabMessage =
  | { readonly type: 'warning'; readonly cause: WarningCause; readonly key: string }
  | { readonly type: 'check' }

function decodeTabMessage(data: unknown): TabMessage | null {
  if (typeof data !== 'object' || data === null) return null
  const m = data as Record<string, unknown>
  if (m.type === 'check') return { type: 'check' }
  if (
    m.type === 'warning' &&
    typeof m.cause === 'string' &&
    (warningCauses as readonly string[]).includes(m.cause) &&
    typeof m.key === 'string' &&
    m.key.length <= 200
  )
    return { type: 'warning', cause: m.cause as WarningCause, key: m.key }
  return null
}

/**
 * Watches what the server serves as the client, for one page: checks on demand (the caller
 * schedules), keeps the strongest alert, shares warnings with the other tabs, and remembers the
 * accepted client across visits.
 */
export class ReleaseMonitor {
  private state: ReleaseMonitorState = {
    status: 'checking',
    running: undefined,
    alert: { kind: 'none' },
    checks: 0,
    lastCheckedAt: undefined,
  }
  private inFlight: Promise<void> | undefined
  private again = false
  private closed = false
  /** Warnings the person dismissed on this page; a different finding is shown again. */
  private readonly acknowledged = new Set<string>()

  constructor(private readonly deps: ReleaseMonitorDeps) {
    deps.channel?.addEventListener('message', (event) => this.onTabMessage(event.data))
  }

  get current(): ReleaseMonitorState {
    return this.state
  }

  /** Checks now, or once more after the check under way; resolves when that check is done. */
  checkNow(): Promise<void> {
    if (this.closed) return Promise.resolve()
    if (this.inFlight !== undefined) {
      this.again = true
      return this.inFlight
    }
    this.inFlight = (async () => {
      try {
        do {
          this.again = false
          await this.runCheck()
        } while (this.again && !this.closed)
      } finally {
        this.inFlight = undefined
      }
    })()
    return this.inFlight
  }

  /**
   * The person read the warning and expects the change (their operator updated the server):
   * hide it on this page and, when a coherent release is served, accept it as the client of
   * this browser. Only this page's own button calls this; no message from another tab can.
   */
  acknowledge(): void {
    const alert = this.state.alert
    if (alert.kind !== 'warning') return
    this.acknowledged.add(alert.key)
    if (alert.served !== undefined) {
      this.deps.memory.write({
        bundleHash: alert.served.bundleHash,
        version: alert.served.version,
        signed: alert.served.signed,
      })
      this.set({ running: alert.served, alert: { kind: 'none' } })
    } else this.set({ alert: { kind: 'none' } })
  }

  /** Stops checking and listening; resolves once a check under way has ended. */
  async close(): Promise<void> {
    this.closed = true
    this.deps.channel?.close()
    await this.inFlight?.catch(() => undefined)
  }

  private async runCheck(): Promise<void> {
    let check: ServedCheck
    try {
      check = await this.deps.check()
    } catch (e: unknown) {
      // A bug in the check is no verdict, and certainly not a pass.
      console.warn('release check failed', e)
      check = { kind: 'unreachable' }
    }
    if (this.closed) return
    const baseline = this.state.running
    let alert: ReleaseAlert | undefined
    if (baseline === undefined) {
      const verdict = judgeFirstCheck(this.deps.running, check, this.deps.memory.read())
      if (verdict !== undefined) {
        if (verdict.remember !== undefined) this.deps.memory.write(verdict.remember)
        if (verdict.baseline !== undefined) this.set({ running: verdict.baseline })
        alert = verdict.alert
      }
    } else alert = judgeLaterCheck(baseline, check)

    if (alert === undefined) {
      if (this.state.checks === 0) this.set({ status: 'unreachable' })
      return
    }
    this.set({
      status: 'checked',
      checks: this.state.checks + 1,
      lastCheckedAt: (this.deps.now ?? Date.now)(),
    })
    this.raise(alert, false)
  }

  private raise(alert: ReleaseAlert, fromOtherTab: boolean): void {
    if (alert.kind === 'warning' && this.acknowledged.has(alert.key)) return
    const before = this.state.alert
    const next = strongerAlert(before, alert)
    if (next === before) return
    this.set({ alert: next })
    if (fromOtherTab) return
    if (next.kind === 'warning') this.post({ type: 'warning', cause: next.cause, key: next.key })
    else if (next.kind === 'update') this.post({ type: 'check' })
  }

  private onTabMessage(data: unknown): void {
    const message = decodeTabMessage(data)
    if (message === null || this.closed) return
    switch (message.type) {
      case 'warning':
        this.raise({ kind: 'warning', cause: message.cause, key: message.key, fromOtherTab: true }, true)
        // See for ourselves too: the other tab may have checked while this one was asleep.
        void this.checkNow()
        return
      case 'check':
        // An update is never taken from another tab's word: this tab verifies it itself.
        void this.checkNow()
        return
      default: {
        const unreachable: never = message
        return unreachable
      }
    }
  }

  private post(message: TabMessage): void {
    try {
      this.deps.channel?.postMessage(message)
    } catch {
      // A closed channel: the other tabs check on their own anyway.
    }
  }

  private set(patch: Partial<ReleaseMonitorState>): void {
    this.state = { ...this.state, ...patch }
    this.deps.onChange?.(this.state)
  }
}
