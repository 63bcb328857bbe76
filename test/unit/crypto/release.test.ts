import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  ed25519KeyPair,
  fromBase64Url,
  initCrypto,
  releaseBundleHash,
  releaseManifestText,
  releaseStatement,
  sha256Hex,
  signRelease,
  verifyRelease,
} from '../../../crypto/index.ts'
import { compareVersions, projectReleasePublicKey, PublishedReleases } from '../../../shared/release.ts'
import { expectCode, utf8 } from './helpers.ts'

// Three files and the hashes coreutils gives for them:
//   find . -type f -printf '%P\n' | LC_ALL=C sort | xargs sha256sum | sha256sum
const files = {
  'index.html': 'd4c85b521f421e80c7eac228ec98a79206eb4fd7fc236ebafcc276783fd87f0a',
  'assets/index-abc.js': '97041719fef537bd4b88522e38ff8dc7161a83f3d3736f067c87b3e1b6f14d33',
  'Zeta.css': '7c98040a541657584690ae2a1cc3b42a8b53b159cc60c5d3abbfecbaeac6c94a',
}
const coreutilsBundleHash = '9a465b546004de10eac0ac7e5db657c4f908a1806f54bca7f86ef2cda066d964'

beforeAll(async () => {
  await initCrypto()
})

describe('release bundle hash', () => {
  it('is what sha256sum gives over the sorted sha256sum lines of the files, whatever their order', () => {
    expect(sha256Hex(utf8('<!doctype html>\n<title>Tincan</title>\n'))).toBe(files['index.html'])
    expect(releaseManifestText(files)).toBe(
      `${files['Zeta.css']}  Zeta.css\n${files['assets/index-abc.js']}  assets/index-abc.js\n${files['index.html']}  index.html\n`,
    )
    expect(releaseBundleHash(files)).toBe(coreutilsBundleHash)
    const reversed = Object.fromEntries(Object.entries(files).reverse())
    expect(releaseBundleHash(reversed)).toBe(coreutilsBundleHash)
  })

  it('changes when one byte of one file changes, or a file is added or renamed', () => {
    const altered = { ...files, 'index.html': sha256Hex(utf8('<!doctype html>\n<title>Tincan</title>\n ')) }
    const added = { ...files, 'assets/implant.js': sha256Hex(utf8('fetch("/x")')) }
    const { 'Zeta.css': css, ...rest } = files
    const renamed = { ...rest, 'zeta.css': css }
    const hashes = [altered, added, renamed].map(releaseBundleHash)
    expect(new Set([coreutilsBundleHash, ...hashes]).size).toBe(4)
  })

  it('refuses a file hash that is not SHA-256 hex, and a path with a line break', () => {
    expectCode(() => releaseManifestText({ 'index.html': 'D4C8' }), 'bad-format')
    expectCode(() => releaseManifestText({ 'a\nb': files['index.html'] }), 'bad-format')
  })
})

describe('release signature', () => {
  it('signs exactly the version and the bundle hash, in a fixed text', () => {
    expect(new TextDecoder().decode(releaseStatement('0.1.0', coreutilsBundleHash))).toBe(
      `tincan release v1\nversion 0.1.0\nbundle ${coreutilsBundleHash}\n`,
    )
  })

  it('verifies under the release key only, for that version and bundle only', () => {
    const key = ed25519KeyPair()
    const other = ed25519KeyPair()
    const signature = signRelease(key.secretKey, '0.1.0', coreutilsBundleHash)
    expect(verifyRelease(signature, '0.1.0', coreutilsBundleHash, key.publicKey)).toBe(true)
    expect(verifyRelease(signature, '0.1.0', coreutilsBundleHash, other.publicKey)).toBe(false)
    expect(verifyRelease(signature, '0.1.1', coreutilsBundleHash, key.publicKey)).toBe(false)
    expect(
      verifyRelease(
        signature,
        '0.1.0',
        releaseBundleHash({ 'index.html': files['index.html'] }),
        key.publicKey,
      ),
    ).toBe(false)
    for (const i of [0, 31, 63]) {
      const flipped = signature.slice()
      flipped[i] = (flipped[i] ?? 0) ^ 1
      expect(verifyRelease(flipped, '0.1.0', coreutilsBundleHash, key.publicKey)).toBe(false)
    }
  })

  it('answers false, never throws, for malformed input', () => {
    const key = ed25519KeyPair()
    const signature = signRelease(key.secretKey, '0.1.0', coreutilsBundleHash)
    expect(verifyRelease(signature, 'not a version\n', coreutilsBundleHash, key.publicKey)).toBe(false)
    expect(verifyRelease(signature, '0.1.0', 'abc', key.publicKey)).toBe(false)
    expect(verifyRelease(signature.subarray(1), '0.1.0', coreutilsBundleHash, key.publicKey)).toBe(false)
    expect(verifyRelease(signature, '0.1.0', coreutilsBundleHash, new Uint8Array(31))).toBe(false)
    expectCode(() => signRelease(key.secretKey, '0.1.0\nbundle x', coreutilsBundleHash), 'bad-format')
  })

  it('every release published in docs/releases.json verifies under the project key compiled into builds', () => {
    const published: unknown = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../../docs/releases.json'), 'utf8'),
    )
    expect(Value.Check(PublishedReleases, published)).toBe(true)
    const { publicKey, releases } = published as PublishedReleases
    expect(publicKey).toBe(projectReleasePublicKey)
    for (const r of releases)
      expect(
        verifyRelease(fromBase64Url(r.signature, 64), r.version, r.bundleHash, fromBase64Url(publicKey, 32)),
        `${r.version} ${r.bundleHash}`,
      ).toBe(true)
  })
})

describe('release versions', () => {
  it('orders by number, not text, with a pre-release before its release', () => {
    const sorted = ['0.10.0', '0.9.1', '1.0.0', '1.0.0-rc.1', '0.9.0'].sort(compareVersions)
    expect(sorted).toEqual(['0.9.0', '0.9.1', '0.10.0', '1.0.0-rc.1', '1.0.0'])
    expect(compareVersions('0.1.0', '0.1.0')).toBe(0)
  })
})
