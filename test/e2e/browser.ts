import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'
import { serviceOrSkip } from '../helpers/services.ts'

/** Flags that let Debian's Chromium run headless as root on a machine with a closed network. */
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * Where Chromium is: CHROMIUM_PATH when set (only there, so that a run can be told there is
 * none), else Debian's package; undefined when it is not installed.
 */
export function findChromium(): string | undefined {
  const configured = process.env.CHROMIUM_PATH ?? ''
  const candidates = configured !== '' ? [configured] : ['/usr/bin/chromium', '/usr/bin/chromium-browser']
  return candidates.find((p) => existsSync(p))
}

/**
 * Whether the browser suite can run. Without Chromium it is skipped with one clear line, unless
 * TINCAN_REQUIRE_SERVICES=1 (as in CI), where a missing browser fails the run.
 */
export function chromiumOrSkip(): string | undefined {
  const configured = process.env.CHROMIUM_PATH ?? ''
  return serviceOrSkip(
    findChromium(),
    'browser tests',
    configured !== ''
      ? `Chromium (nothing at CHROMIUM_PATH=${configured})`
      : "Chromium (install Debian's chromium, or set CHROMIUM_PATH)",
  )
}

/** `extraArgs` go after the usual flags (e.g. a fake camera playing a file: fakeCameraArgs). */
export async function launchChromium(
  executablePath: string,
  extraArgs: readonly string[] = [],
): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: [...chromiumArgs, ...extraArgs] })
}

/**
 * A camera that plays `y4mPath` (read each time the page opens the camera, so the file may be
 * rewritten between scans), allowed without a prompt.
 */
export function fakeCameraArgs(y4mPath: string): string[] {
  return [
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    `--use-file-for-fake-video-capture=${y4mPath}`,
  ]
}
