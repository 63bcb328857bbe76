import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumOrSkip, fakeCameraArgs } from './browser.ts'
import { openBrowser, Person, startAppServer, type E2eServer } from './app.ts'
import { writeQrVideo } from './fake-camera.ts'

const chromiumPath = chromiumOrSkip()
const suffix = randomBytes(3).toString('hex')

/** `payload` (base64url) with one byte of the shower's fingerprint changed: the code of another key. */
function otherKeysCode(payload: string): string {
  const bytes = Buffer.from(payload, 'base64url')
  bytes[3] = (bytes[3] ?? 0) ^ 0x5a
  return bytes.toString('base64url')
}

// Skipped only when Chromium is missing and TINCAN_REQUIRE_SERVICES is not set (chromiumOrSkip says so).
describe.skipIf(chromiumPath === undefined)(
  'scanning a friend’s safety-number QR code with the camera',
  () => {
    let server: E2eServer
    // Alice's browser has a fake camera that plays `video`; Bob's has none.
    let alicesBrowser: Browser
    let bobsBrowser: Browser
    let alice: Person
    let bob: Person
    const dir = mkdtempSync(join(tmpdir(), 'tincan-camera-'))
    const video = join(dir, 'camera.y4m')
    let shownByBob = ''

    beforeAll(async () => {
      server = await startAppServer()
      writeQrVideo(video, undefined)
      alicesBrowser = await openBrowser(chromiumPath ?? '', fakeCameraArgs(video))
      bobsBrowser = await openBrowser(chromiumPath ?? '')
      alice = await Person.arrive(alicesBrowser, server.url, `alice_${suffix}`)
      bob = await Person.arrive(bobsBrowser, server.url, `bob_${suffix}`)
    })

    afterAll(async () => {
      await alicesBrowser.close()
      await bobsBrowser.close()
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    it('has two friends, each on the safety number with the other', async () => {
      await alice.register('a long and careful passphrase')
      await bob.register('bob has his own passphrase')
      await alice.befriend(bob)
      // The code on Bob's screen, in his safety number with Alice.
      await bob.openChat(alice.name)
      await bob.byTestId('chat-safety-number').click()
      await expect.poll(() => bob.byTestId('safety-qr').getAttribute('data-qr')).toMatch(/^[\w-]{80,}$/)
      shownByBob = (await bob.byTestId('safety-qr').getAttribute('data-qr')) ?? ''
      await alice.openChat(bob.name)
      await alice.byTestId('chat-safety-number').click()
      await expect.poll(() => alice.byTestId('safety-digit-group').count()).toBe(12)
    })

    const notice = () => alice.byTestId('safety-scan-notice')
    const verifiedToggle = () => alice.byTestId('safety-verified-toggle')

    it('refuses the code of another key with a clear message, and leaves Bob unverified', async () => {
      writeQrVideo(video, otherKeysCode(shownByBob))
      await alice.byTestId('safety-scan-start').click()
      await expect.poll(() => alice.byTestId('safety-scan-video').count()).toBe(1)
      await expect.poll(() => notice().getAttribute('data-result'), { timeout: 30_000 }).toBe('mismatch')
      expect(await notice().textContent()).toContain('This code does not match')
      expect(await notice().getAttribute('role')).toBe('alert')
      // The camera is off again, and nothing was marked.
      expect(await alice.byTestId('safety-scan-video').count()).toBe(0)
      expect(await verifiedToggle().isChecked()).toBe(false)
      await alice.shot('16-safety-scan-refused')
    })

    it('marks Bob verified when the camera sees the code on his screen', async () => {
      writeQrVideo(video, shownByBob)
      await alice.byTestId('safety-scan-start').click()
      await expect.poll(() => notice().getAttribute('data-result'), { timeout: 30_000 }).toBe('verified')
      await expect.poll(() => verifiedToggle().isChecked()).toBe(true)
      await alice.shot('16-safety-scan-verified')
      // It is kept: after a reload the safety number still says verified.
      await alice.reload()
      await alice.openChat(bob.name)
      await alice.byTestId('chat-safety-number').click()
      await expect.poll(() => verifiedToggle().isChecked(), { timeout: 15_000 }).toBe(true)
    })
  },
)
