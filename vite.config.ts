import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig } from 'vite'
import { gitCommit, releasePublicKey } from './scripts/release/client-release.ts'
import { releaseManifestPlugin } from './scripts/release/vite-plugin.ts'

const { version } = JSON.parse(readFileSync(join(import.meta.dirname, 'package.json'), 'utf8')) as {
  version: string
}
const publicKey = releasePublicKey()
// How often an open page checks what the server serves; tests build with a shorter period.
const releaseCheckMs = Number(process.env.TINCAN_RELEASE_CHECK_MS ?? 5 * 60_000)
if (!Number.isInteger(releaseCheckMs) || releaseCheckMs < 1000)
  throw new Error('TINCAN_RELEASE_CHECK_MS must be a whole number of milliseconds, at least 1000')

// The web client: built into dist/client, which the server serves at /. The build is
// reproducible (same commit, same lockfile → same bytes; test/integration/build checks it) and
// ends with release.json, the list of its files and their hashes (docs/SECURITY.md, "The served client").
export default defineConfig(({ command }) => ({
  root: 'client/ui',
  plugins: [
    svelte(),
    releaseManifestPlugin({
      version,
      commit: gitCommit(import.meta.dirname),
      publicKey,
      publishedPath: join(import.meta.dirname, 'docs', 'releases.json'),
    }),
  ],
  // Compiled into the page, so the server cannot change them for a page that is already open.
  define: {
    __TINCAN_VERSION__: JSON.stringify(version),
    __TINCAN_RELEASE_PUBLIC_KEY__: JSON.stringify(publicKey),
    __TINCAN_RELEASE_CHECK_MS__: String(releaseCheckMs),
    // Every build checks what it is served, whatever NODE_ENV says; only the dev server does not.
    __TINCAN_DEV_SERVER__: String(command === 'serve'),
  },
  build: {
    outDir: '../../dist/client',
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts or data: URLs for modules: the page's CSP forbids them.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    // libsodium (sumo, with its WebAssembly inlined) is most of the bundle.
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: { '/api': 'http://localhost:8080', '/ws': { target: 'ws://localhost:8080', ws: true } },
  },
}))
