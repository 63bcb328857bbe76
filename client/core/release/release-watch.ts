import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { compareVersions, ReleaseVersion, Sha256Hex } from '../../../shared/release.ts'
import type { IncoherentReason, ServedCheck, ServedRelease } from './served-release.ts'

/** What the running page knows about itself, compiled in, so the server cannot change it. */
export interface RunningClient {
  readonly version: string
  /** The path of the script this code came from (`assets/index-….js`); undefined if unknown. */
  readonly modulePath: string | undefined
}

/** The last client this browser ran and accepted, kept across visits. */
export interface RememberedRelease {
  readonly bundleHash: string
  readonly version: string
  readonly signed: boolean
}

export type WarningCause =
  /** What this page was served does not match its own manifest, or is not the code running. */
  | 'mismatch-at-load'
  /** The server changed the client while this page was open, without a release signature. */
  | 'changed-while-open'
  /** The client differs from the one this browser ran last time and is not a signed release. */
  | 'changed-since-last-visit'
  /** A signed release older than the one running (or run last time) is served: a downgrade. */
  | 'downgrade'

export const warningCauses: readonly WarningCause[] = [
  'mismatch-at-load',
  'changed-while-open',
  'changed-since-last-visit',
  'downgrade',
]

export type ReleaseAlert =
  | { readonly kind: 'none' }
  /** A newer release signed by the release key is served: reloading is safe. */
  | { readonly kind: 'update'; readonly version: string }
  | {
      readonly kind: 'warning'
      readonly cause: WarningCause
      /** Identifies this finding, so acknowledging it does not hide a different one. */
      readonly key: string
      readonly detail?: IncoherentReason
      /** The coherent release now served, which acknowledging accepts; none for a broken one. */
      readonly served?: ServedRelease
      /** Raised by another tab of this browser, which saw it first. */
      readonly fromOtherTab?: boolean
    }

export type Verdict = {
  /** What later checks compare with: the release this page was verified to be. */
  readonly baseline: ServedRelease | undefined
  readonly alert: ReleaseAlert
  /** What to keep as the last client this browser ran. */
  readonly remember?: RememberedRelease
}

const none: ReleaseAlert = { kind: 'none' }

function remembered(release: ServedRelease): RememberedRelease {
  return { bundleHash: release.bundleHash, version: release.version, signed: release.signed }
}

function incoherentWarning(
  cause: WarningCause,
  check: Extract<ServedCheck, { kind: 'incoherent' }>,
): ReleaseAlert {
  return { kind: 'warning', cause, key: `${cause}:${check.reason}:${check.path ?? ''}`, detail: check.reason }
}

/**
 * The first check of a page: is what the server sent this page one coherent release, the one
 * running, and (across visits) the one this browser ran before or a signed successor of it?
 * Undefined when the server could not be asked.
 */
export function judgeFirstCheck(
  running: RunningClient,
  check: ServedCheck,
  last: RememberedRelease | undefined,
): Verdict | undefined {
  switch (check.kind) {
    case 'unreachable':
      return undefined
    case 'incoherent':
      return { baseline: undefined, alert: incoherentWarning('mismatch-at-load', check) }
    case 'release': {
      const served = check.release
      if (served.version !== running.version) {
        // The server may have moved on between this page's load and its first check.
        if (served.signed && compareVersions(served.version, running.version) > 0)
          return { baseline: served, alert: { kind: 'update', version: served.version } }
        return { baseline: served, alert: mismatch(served, 'version') }
      }
      if (running.modulePath !== undefined && !served.paths.includes(running.modulePath))
        return { baseline: served, alert: mismatch(served, 'module') }
      if (last === undefined || last.bundleHash === served.bundleHash)
        return { baseline: served, alert: none, remember: remembered(served) }
      if (served.signed) {
        if (last.signed && compareVersions(served.version, last.version) < 0)
          return { baseline: served, alert: downgrade(served) }
        return { baseline: served, alert: none, remember: remembered(served) }
      }
      return {
        baseline: served,
        alert: {
          kind: 'warning',
          cause: 'changed-since-last-visit',
          key: `changed-since-last-visit:${served.bundleHash}`,
          served,
        },
      }
    }
    default: {
      const unreachable: never = check
      return unreachable
    }
  }
}

function mismatch(served: ServedRelease, what: string): ReleaseAlert {
  return { kind: 'warning', cause: 'mismatch-at-load', key: `mismatch-at-load:${what}:${served.bundleHash}` }
}

function downgrade(served: ServedRelease): ReleaseAlert {
  return { kind: 'warning', cause: 'downgrade', key: `downgrade:${served.bundleHash}`, served }
}

/**
 * A later check of an open page against the release it was verified to be: the same bundle is
 * fine, a newer signed release is an update, anything else is a warning. Undefined when the
 * server could not be asked.
 */
export function judgeLaterCheck(baseline: ServedRelease, check: ServedCheck): ReleaseAlert | undefined {
  switch (check.kind) {
    case 'unreachable':
      return undefined
    case 'incoherent':
      return incoherentWarning('changed-while-open', check)
    case 'release': {
      const served = check.release
      if (served.bundleHash === baseline.bundleHash) return none
      if (served.signed)
        return compareVersions(served.version, baseline.version) > 0
          ? { kind: 'update', version: served.version }
          : downgrade(served)
      return {
        kind: 'warning',
        cause: 'changed-while-open',
        key: `changed-while-open:${served.bundleHash}`,
        served,
      }
    }
    default: {
      const unreachable: never = check
      return unreachable
    }
  }
}

/** A warning outranks an update, which outranks nothing; a warning stays until acknowledged. */
export function strongerAlert(current: ReleaseAlert, next: ReleaseAlert): ReleaseAlert {
  const rank = (a: ReleaseAlert) => (a.kind === 'warning' ? 2 : a.kind === 'update' ? 1 : 0)
  if (current.kind === 'update' && next.kind === 'update') return next
  return rank(next) > rank(current) ? next : current
}

const RememberedSchema = Type.Object({
  bundleHash: Sha256Hex,
  version: ReleaseVersion,
  signed: Type.Boolean(),
})

/** What this browser remembered of the client it ran last (from its local settings): checked, never assumed. */
export function parseRememberedRelease(text: string | null): RememberedRelease | undefined {
  try {
    const value: unknown = JSON.parse(text ?? 'null')
    return Value.Check(RememberedSchema, value) ? value : undefined
  } catch {
    return undefined
  }
}
