import { describe, expect, it } from 'vitest'
import {
  judgeFirstCheck,
  judgeLaterCheck,
  strongerAlert,
  type ReleaseAlert,
  type RememberedRelease,
} from '../../../client/core/release/release-watch.ts'
import type { ServedCheck, ServedRelease } from '../../../client/core/release/served-release.ts'

const hash = (c: string) => c.repeat(64)
const running = { version: '0.1.0', modulePath: 'assets/index-a.js' }

function release(patch: Partial<ServedRelease> = {}): ServedRelease {
  return {
    version: '0.1.0',
    commit: undefined,
    bundleHash: hash('a'),
    paths: ['assets/index-a.js', 'index.html'],
    signed: false,
    ...patch,
  }
}
const served = (patch: Partial<ServedRelease> = {}): ServedCheck => ({
  kind: 'release',
  release: release(patch),
})
const remembered = (patch: Partial<RememberedRelease> = {}): RememberedRelease => ({
  bundleHash: hash('a'),
  version: '0.1.0',
  signed: false,
  ...patch,
})
const cause = (alert: ReleaseAlert | undefined) => (alert?.kind === 'warning' ? alert.cause : alert?.kind)

describe('the first check of a page', () => {
  it('accepts the first client a browser sees, and the same one on later visits, and remembers it', () => {
    for (const last of [undefined, remembered()]) {
      const verdict = judgeFirstCheck(running, served(), last)
      expect(verdict?.alert).toEqual({ kind: 'none' })
      expect(verdict?.remember).toEqual(remembered())
      expect(verdict?.baseline?.bundleHash).toBe(hash('a'))
    }
  })

  it('warns when the client changed since the last visit without a release signature, and does not remember it', () => {
    const verdict = judgeFirstCheck(running, served({ bundleHash: hash('b') }), remembered())
    expect(cause(verdict?.alert)).toBe('changed-since-last-visit')
    expect(verdict?.remember).toBeUndefined()
  })

  it('takes a changed client quietly when the release key signed it, but not an older signed one', () => {
    const newer = judgeFirstCheck(
      running,
      served({ bundleHash: hash('b'), signed: true }),
      remembered({ version: '0.0.9' }),
    )
    expect(newer?.alert).toEqual({ kind: 'none' })
    expect(newer?.remember?.bundleHash).toBe(hash('b'))
    const older = judgeFirstCheck(
      running,
      served({ bundleHash: hash('b'), signed: true }),
      remembered({ version: '0.2.0', signed: true }),
    )
    expect(cause(older?.alert)).toBe('downgrade')
    expect(older?.remember).toBeUndefined()
  })

  it('warns when the served files do not match their manifest, or the manifest is not the code running', () => {
    const incoherent = judgeFirstCheck(
      running,
      { kind: 'incoherent', reason: 'file-changed', path: 'assets/index-a.js' },
      undefined,
    )
    expect(cause(incoherent?.alert)).toBe('mismatch-at-load')
    expect(cause(judgeFirstCheck(running, served({ version: '0.0.9' }), undefined)?.alert)).toBe(
      'mismatch-at-load',
    )
    expect(cause(judgeFirstCheck(running, served({ paths: ['assets/index-b.js'] }), undefined)?.alert)).toBe(
      'mismatch-at-load',
    )
  })

  it('calls a newer signed release served since the page loaded an update', () => {
    expect(judgeFirstCheck(running, served({ version: '0.2.0', signed: true }), undefined)?.alert).toEqual({
      kind: 'update',
      version: '0.2.0',
    })
  })

  it('gives no verdict, and remembers nothing, when the server cannot be reached', () => {
    expect(
      judgeFirstCheck(running, { kind: 'unreachable' }, remembered({ bundleHash: hash('b') })),
    ).toBeUndefined()
  })
})

describe('later checks of an open page', () => {
  const baseline = release()

  it('stay quiet while the server serves the same client', () => {
    expect(judgeLaterCheck(baseline, served())).toEqual({ kind: 'none' })
    expect(judgeLaterCheck(baseline, { kind: 'unreachable' })).toBeUndefined()
  })

  it('warn when the client changes without the release signature, or stops matching its manifest', () => {
    expect(cause(judgeLaterCheck(baseline, served({ bundleHash: hash('b') })))).toBe('changed-while-open')
    expect(
      cause(judgeLaterCheck(baseline, { kind: 'incoherent', reason: 'file-changed', path: 'index.html' })),
    ).toBe('changed-while-open')
    expect(cause(judgeLaterCheck(baseline, { kind: 'incoherent', reason: 'no-manifest' }))).toBe(
      'changed-while-open',
    )
  })

  it('offer a newer signed release as an update, and call an older or same-version signed one a downgrade', () => {
    expect(
      judgeLaterCheck(baseline, served({ bundleHash: hash('b'), version: '0.1.1', signed: true })),
    ).toEqual({
      kind: 'update',
      version: '0.1.1',
    })
    expect(
      cause(judgeLaterCheck(baseline, served({ bundleHash: hash('b'), version: '0.1.0', signed: true }))),
    ).toBe('downgrade')
    expect(
      cause(judgeLaterCheck(baseline, served({ bundleHash: hash('b'), version: '0.0.1', signed: true }))),
    ).toBe('downgrade')
  })

  it('keep a warning over a later update or all-clear', () => {
    const warning = judgeLaterCheck(baseline, served({ bundleHash: hash('b') })) as ReleaseAlert
    expect(strongerAlert(warning, { kind: 'update', version: '0.2.0' })).toBe(warning)
    expect(strongerAlert(warning, { kind: 'none' })).toBe(warning)
    expect(strongerAlert({ kind: 'update', version: '0.2.0' }, warning)).toBe(warning)
  })
})
