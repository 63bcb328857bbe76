import { createReceiveWorker, dtlsCertificate, workerKdf, type ClientEnv } from '../../../core/index.ts'

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
