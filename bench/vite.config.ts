import { defineConfig } from 'vite'

// A page without UI that drives client/core in Chromium for the benchmarks. Built into
// dist/bench and served by the real server (CLIENT_DIR), under the same CSP as the app.
export default defineConfig({
  root: 'bench/page',
  logLevel: 'warn',
  build: {
    outDir: '../../dist/bench',
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1200,
  },
})
