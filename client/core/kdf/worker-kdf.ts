import type { KdfParams, PasswordKeys } from '../../../crypto/index.ts'
import type { KdfRunner } from '../account.ts'
import { TincanError } from '../errors.ts'
import type { KdfRequest, KdfResponse } from './kdf-worker.ts'

export const kdfErrorCodes = ['kdf-failed'] as const

/** The password could not be hashed in this browser (the worker failed to start or to run). */
export class KdfError extends TincanError<(typeof kdfErrorCodes)[number]> {
  override readonly name = 'KdfError'
  constructor(message: string) {
    super('kdf-failed', message)
  }
}

/**
 * A KdfRunner that runs each derivation in a fresh Worker and ends it afterwards, so the
 * password and Argon2id's 64 MiB do not linger. `onRunning` drives the progress bar.
 */
export function workerKdf(onRunning: (running: boolean) => void): KdfRunner {
  return (password: string, salt: Uint8Array, params: KdfParams) =>
    new Promise<PasswordKeys>((resolve, reject) => {
      const worker = new Worker(new URL('./kdf-worker.ts', import.meta.url), { type: 'module' })
      onRunning(true)
      const finish = () => {
        worker.terminate()
        onRunning(false)
      }
      worker.onmessage = (ev: MessageEvent<KdfResponse>) => {
        finish()
        const r = ev.data
        if (r.ok) resolve({ masterKey: r.masterKey, authKey: r.authKey })
        else reject(new KdfError(r.message))
      }
      worker.onerror = (ev) => {
        finish()
        reject(new KdfError(ev.message || 'the key derivation worker failed'))
      }
      worker.postMessage({ password, salt, params } satisfies KdfRequest)
    })
}
