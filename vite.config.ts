import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig } from 'vite'

// The web client: built into dist/client, which the server serves at /.
export default defineConfig({
  root: 'client/ui',
  plugins: [svelte()],
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
})
