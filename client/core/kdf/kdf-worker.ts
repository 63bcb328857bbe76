/// <reference lib="webworker" />
// Argon2id blocks its thread for about a second: it runs here so the page stays responsive.
import { derivePasswordKeys, initCrypto, type KdfParams } from '../../../crypto/index.ts'

export interface KdfRequest {
  readonly password: string
  readonly salt: Uint8Array
  readonly params: KdfParams
}

export type KdfResponse =
  | { readonly ok: true; readonly masterKey: Uint8Array; readonly authKey: Uint8Array }
  | { readonly ok: false; readonly message: string }

const scope = self as unknown as DedicatedWorkerGlobalScope

scope.onmessage = (ev: MessageEvent<KdfRequest>) => {
  const { password, salt, params } = ev.data
  initCrypto().then(
    () => {
      try {
        const keys = derivePasswordKeys(password, salt, params)
        scope.postMessage({
          ok: true,
          masterKey: keys.masterKey,
          authKey: keys.authKey,
        } satisfies KdfResponse)
      } catch (e: unknown) {
        scope.postMessage({
          ok: false,
          message: e instanceof Error ? e.message : String(e),
        } satisfies KdfResponse)
      }
    },
    (e: unknown) => scope.postMessage({ ok: false, message: String(e) } satisfies KdfResponse),
  )
}
