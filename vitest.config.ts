import { defineConfig } from 'vitest/config'

// Three suites, run one after the other by `npm test`:
// unit (pure code), integration (a real server, real sockets, WebRTC in Node),
// e2e (real Chromium driven by playwright-core against a built client). Suites that need a
// service outside Node.js (PostgreSQL, Redis, coturn, Chromium) skip with one line when it is
// missing, unless TINCAN_REQUIRE_SERVICES=1 (test/helpers/services.ts).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Finds PostgreSQL (or runs an embedded one) and Redis once for every file.
          globalSetup: ['test/helpers/services-setup.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Most of a file's time is waiting (servers, sockets, WebRTC handshakes, timers) and
          // loading its modules: three files at once keep two cores busy, where vitest's default
          // on this machine (cores − 1 = one) ran them one after another.
          maxWorkers: 3,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
