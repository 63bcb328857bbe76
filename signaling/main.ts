import { buildApp } from './app.ts'
import { ConfigError, helpText, loadConfig } from './config.ts'
import { openStorage } from './storage/open.ts'

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(helpText())
  process.exit(0)
}

let config
try {
  config = loadConfig()
} catch (e: unknown) {
  if (e instanceof ConfigError) {
    process.stderr.write(`tincan: ${e.message}\n\nRun with --help for the settings.\n`)
    process.exit(2)
  }
  throw e
}

function die(what: string, e: unknown): never {
  const reason = e instanceof Error ? e.message || e.name : String(e)
  process.stderr.write(`tincan: ${what}: ${reason}\n`)
  process.exit(1)
}

const storage = await openStorage(config).catch((e: unknown) =>
  die(config.databaseUrl === undefined ? 'cannot open the SQLite database' : 'cannot open DATABASE_URL', e),
)
const { app, shutdown } = await buildApp(config, storage).catch(async (e: unknown) => {
  await storage.close().catch(() => undefined)
  return die(config.redisUrl === undefined ? 'cannot start' : 'cannot start with REDIS_URL', e)
})
await app.listen({ host: config.host, port: config.port })
// With PORT=0 the system picks the port: show the one actually bound.
const address = app.server.address()
const port = typeof address === 'object' && address !== null ? address.port : config.port
const shown =
  config.host === '0.0.0.0' || config.host === '::' || config.host === '127.0.0.1' ? 'localhost' : config.host
app.log.info(`Tincan is running at http://${shown}:${String(port)}`)
process.stdout.write(`\nTincan is running at http://${shown}:${String(port)}\n\n`)

let stopping = false
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return
    stopping = true
    app.log.info({ signal }, 'shutting down')
    shutdown().then(
      () => process.exit(0),
      (e: unknown) => {
        app.log.error({ err: e }, 'shutdown failed')
        process.exit(1)
      },
    )
  })
}
