import {
  ReleaseMonitor,
  parseRememberedRelease,
  releaseChannelName,
  servedReleaseChecker,
  type ReleaseChannel,
  type ReleaseMemory,
  type ReleaseMonitorState,
} from '../../../../core/index.ts'
import { readSetting, writeSetting } from '../storage.ts'

/** Checks that come from the page becoming visible again, at most this often. */
const minVisibleCheckGapMs = 15_000

const memory: ReleaseMemory = {
  read: () => parseRememberedRelease(readSetting('client-release')),
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
    const check = await servedReleaseChecker(location.origin, __TINCAN_RELEASE_PUBLIC_KEY__, (url, init) =>
      fetch(url, init),
    )
    const modulePath = new URL(import.meta.url).pathname.replace(/^\//, '')
    const channel = openChannel()
    this.watcher = new ReleaseMonitor({
      running: { version: this.version, modulePath },
      check,
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
