import type libsodium from 'libsodium-wrappers-sumo'
import { CryptoError } from './errors.ts'

export type Sodium = typeof libsodium

let instance: Sodium | null = null
let loading: Promise<void> | null = null

/**
 * Loads libsodium (WebAssembly) and waits until it is usable. Call once at start-up and await
 * it before any other function of this module; calling it again is cheap and safe.
 * The import is dynamic so that merely importing the crypto module does no work.
 */
export function initCrypto(): Promise<void> {
  loading ??= (async () => {
    const mod = await import('libsodium-wrappers-sumo')
    await mod.default.ready
    instance = mod.default
  })()
  return loading
}

/**
 * The ready libsodium instance.
 * @throws CryptoError 'not-ready' before `initCrypto()` has resolved.
 */
export function sodium(): Sodium {
  if (instance === null) throw new CryptoError('not-ready', 'call and await initCrypto() first')
  return instance
}
