import { Value } from '@sinclair/typebox/value'
import { Type } from '@sinclair/typebox'
import { fromBase64Url, initCrypto } from '../../../../../crypto/index.ts'
import { ReleaseVersion, Sha256Hex } from '../../../../../shared/release.ts'
import {
  ReleaseMonitor,
  releaseChannelName,
  type ReleaseChannel,
  type ReleaseMemory,
  type ReleaseMonitorState,
} from '../release/release-monitor.ts'
import type { RememberedRelease } from '../release/release-watch.ts'
import { checkServedRelease } from '../release/served-release.ts'
import { readSetting, writeSetting } from '../storage.ts'

/** Checks that come from the page becoming visible again, at most this often. */
const minVisibleCheckGapMs = 15_000

const Remembered = Type.Object({ bundleHash: Sha256Hex, version: ReleaseVersion, signed: Type.Boolean() })

const memory: ReleaseMemory = {
  read(): RememberedRelease | undefined {
    try {
      const value: unknown = JSON.parse(readSetting('client-release') ?? 'null')
      return Value.Check(Remembered, value) ? value : undefined
    } catch {
      return undefined
    }
  },
  write(release) {
    writeSetting('client-release', JSON.stringify(release))
  },
}

function openChannel(): ReleaseChannel | undefined {
  try {
    return typeof BroadcastChannel === 'undefined' ? undefined : new BroadcastChannel(releaseChannelName)
  } catch {
    return undefined
  }
}

/**
 * The client this page runs, as the server serves it: its version and bundle hash (shown in
 * Settings), and the warning every open page shows when the server starts serving a different
 * client that the release key did not sign (docs/SECURITY.md, "The served client").
 */
class ReleaseState {
  /** Compiled in: the server cannot change these for a page that is already open. */
  readonly version = __TINCAN_VERSION__
  readonly development = __TINCAN_DEV_SERVER__
  monitor = $state.raw<ReleaseMonitorState>({
    status: 'checking',
    running: undefined,
    alert: { kind: 'none' },
    checks: 0,
    lastCheckedAt: undefined,
  })
  private watcher: ReleaseMonitor | undefined
  private lastVisibleCheckAt = 0

  /** Starts watching; the first check runs at once (before anyone types a password). */
  async start(): Promise<void> {
    if (this.development || this.watcher !== undefined) return
    await initCrypto()
    const publicKey = fromBase64Url(__TINCAN_RELEASE_PUBLIC_KEY__, 32, 'release public key')
    const modulePath = new URL(import.meta.url).pathname.replace(/^\//, '')
    const channel = openChannel()
    this.watcher = new ReleaseMonitor({
      running: { version: this.version, modulePath },
      check: () =>
        checkServedRelease({ fetch: (url, init) => fetch(url, init), origin: location.origin, publicKey }),
      memory,
      ...(channel === undefined ? {} : { channel }),
      onChange: (state) => (this.monitor = state),
    })
    const watcher = this.watcher
    setInterval(() => void watcher.checkNow(), __TINCAN_RELEASE_CHECK_MS__)
    // Background tabs' timers are throttled; check when the person comes back to the page.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible') return
      if (Date.now() - this.lastVisibleCheckAt < minVisibleCheckGapMs) return
      this.lastVisibleCheckAt = Date.now()
      void watcher.checkNow()
    })
    addEventListener('online', () => void watcher.checkNow())
    await watcher.checkNow()
  }

  acknowledge(): void {
    this.watcher?.acknowledge()
  }
}

export const releaseState = new ReleaseState()
