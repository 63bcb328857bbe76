import type { ClientEnv } from '../../../core/client.ts'
import { createReceiveWorker } from '../../../core/files/receive-worker-client.ts'
import { dtlsCertificate } from './dtls-certificate.ts'
import { workerKdf } from './kdf.ts'

/** Everything the client needs from the browser. */
export function browserEnv(onKdfRunning: (running: boolean) => void): ClientEnv {
  return {
    serverUrl: location.origin,
    kdf: workerKdf(onKdfRunning),
    createSocket: (url) => new WebSocket(url),
    peers: { certificate: dtlsCertificate },
    // Received files are decrypted, hashed and stored off the main thread.
    receiveWorker: createReceiveWorker,
  }
}
