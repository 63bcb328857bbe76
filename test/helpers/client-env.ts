import 'fake-indexeddb/auto'
import wrtc from '@roamhq/wrtc'
import WebSocket from 'ws'
import { derivePasswordKeys, initCrypto } from '../../crypto/index.ts'
import type { ClientEnv } from '../../client/core/client.ts'

/**
 * How client/core runs in Node for tests: real WebSockets (`ws`), real WebRTC (`@roamhq/wrtc`'s
 * RTCPeerConnection), IndexedDB from fake-indexeddb, and Argon2id at the real parameters.
 */
export async function nodeClientEnv(
  serverUrl: string,
  overrides: Partial<ClientEnv['peers']> = {},
): Promise<ClientEnv> {
  await initCrypto()
  return {
    serverUrl,
    kdf: (password, salt, params) => Promise.resolve(derivePasswordKeys(password, salt, params)),
    createSocket: (url) => new WebSocket(url),
    peers: {
      RTCPeerConnection: wrtc.RTCPeerConnection,
      ...overrides,
    },
  }
}
