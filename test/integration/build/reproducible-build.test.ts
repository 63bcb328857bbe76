import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initCrypto, releaseBundleHash } from '../../../crypto/index.ts'
import { hashClientDir } from '../../../scripts/release/client-release.ts'
import { projectReleasePublicKey, ReleaseManifest } from '../../../shared/release.ts'
import { repoRoot } from '../../helpers/server.ts'

// Same commit → same bundle: the client is built twice, from this checkout and from a copy of it
// somewhere else, and the two must match byte for byte (docs/SECURITY.md, "The served client").

let root: string
let here: string
let elsewhere: string
let checkout: string

/**
 * The environment of `npm run build`: without the settings meant to change the bundle, and
 * without vitest's NODE_ENV=test, which would make a development build.
 */
function buildEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.NODE_ENV
  delete env.TINCAN_RELEASE_PUBLIC_KEY
  delete env.TINCAN_RELEASE_CHECK_MS
  return env
}

function build(cwd: string, outDir: string): void {
  const result = spawnSync(
    process.execPath,
    [join(cwd, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'error', '--outDir', outDir],
    { cwd, env: buildEnv(), encoding: 'utf8' },
  )
  if (result.status !== 0) throw new Error(`vite build in ${cwd} failed:\n${result.stderr}`)
}

function manifestOf(dir: string): ReleaseManifest {
  const manifest: unknown = JSON.parse(readFileSync(join(dir, 'release.json'), 'utf8'))
  if (!Value.Check(ReleaseManifest, manifest)) throw new Error(`${dir}/release.json does not fit its schema`)
  return manifest
}

beforeAll(async () => {
  await initCrypto()
  root = mkdtempSync(join(tmpdir(), 'tincan-build-'))
  here = join(root, 'here')
  elsewhere = join(root, 'elsewhere')
  checkout = join(root, 'another checkout')
  // The source as git would check it out (tracked and new files, nothing ignored), at another path.
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: repoRoot,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f !== '' && f !== 'node_modules')
  for (const f of files) {
    mkdirSync(dirname(join(checkout, f)), { recursive: true })
    cpSync(join(repoRoot, f), join(checkout, f), { verbatimSymlinks: true })
  }
  symlinkSync(realpathSync(join(repoRoot, 'node_modules')), join(checkout, 'node_modules'))
  build(repoRoot, here)
  build(checkout, elsewhere)
}, 300_000)

afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})

describe('the web client build', () => {
  it('gives the same bytes and the same bundle hash for the same source, built in two places', () => {
    const a = hashClientDir(here)
    const b = hashClientDir(elsewhere)
    expect(Object.keys(a).length).toBeGreaterThan(4)
    expect(b).toEqual(a)
    expect(manifestOf(elsewhere).bundleHash).toBe(manifestOf(here).bundleHash)
  })

  it('lists every file it serves in release.json, under the hash coreutils recomputes from the files', () => {
    const manifest = manifestOf(here)
    expect(manifest.files).toEqual(hashClientDir(here))
    expect(manifest.bundleHash).toBe(releaseBundleHash(manifest.files))
    const coreutils = execFileSync(
      'bash',
      [
        '-c',
        "find . -type f ! -name release.json ! -name release.sig -printf '%P\\n' | LC_ALL=C sort | xargs sha256sum | sha256sum",
      ],
      { cwd: here, encoding: 'utf8' },
    )
    expect(coreutils.split(' ')[0]).toBe(manifest.bundleHash)
    expect(manifest.version).toBe(
      (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version,
    )
  })

  it('names each script and stylesheet of index.html with its Subresource Integrity hash', () => {
    const html = readFileSync(join(here, 'index.html'), 'utf8')
    const tags = [
      ...html.matchAll(/<(?:script|link)\b[^>]*\s(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"[^>]*>/g),
    ]
    expect(tags.map((t) => t[1]).sort()).toEqual(
      Object.keys(hashClientDir(here)).filter((f) => /^assets\/index-.*\.(js|css)$/.test(f)),
    )
    for (const [tag, path] of tags) {
      const digest = createHash('sha384')
        .update(readFileSync(join(here, path ?? '')))
        .digest('base64')
      expect(tag).toContain(`integrity="sha384-${digest}"`)
    }
  })

  it('compiles in the project release key, and no path of the machine that built it', () => {
    const scripts = readdirSync(join(here, 'assets'))
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(join(here, 'assets', f), 'utf8'))
      .join('\n')
    expect(scripts.includes(projectReleasePublicKey), 'the release key is compiled in').toBe(true)
    for (const dir of [here, elsewhere])
      for (const file of Object.keys(hashClientDir(dir))) {
        const text = readFileSync(join(dir, file), 'latin1')
        for (const path of [repoRoot, checkout, root, tmpdir()])
          expect(text.includes(path), `${file} names ${path}`).toBe(false)
      }
  })

  it('is named, by its bundle hash, when npm start serves it', async () => {
    const dataDir = join(root, 'data')
    const server = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: repoRoot,
      env: {
        ...buildEnv(),
        CLIENT_DIR: here,
        DATA_DIR: dataDir,
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    server.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout.on('data', () => {
          if (out.includes('Tincan is running')) resolve()
        })
        server.on('exit', (code) => reject(new Error(`npm start exited with ${code}: ${out}`)))
      })
    } finally {
      server.kill('SIGTERM')
    }
    const hash = manifestOf(here).bundleHash
    expect(out).toContain(`Web client ${manifestOf(here).version}: bundle sha256 ${hash}`)
    // One line, before the address: a quiet start stays quiet.
    expect(out.trim().split('\n')[0]).toContain(hash)
  })
})
