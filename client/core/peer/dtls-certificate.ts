import { openCertificateDb } from '../store/databases.ts'

const storeName = 'certificates'
const recordKey = 'current'
const dayMs = 24 * 60 * 60 * 1000
/** Chromium caps certificate lifetime at a year. */
const lifetimeMs = 365 * dayMs
/** Renew well before expiry so a connection never starts with a certificate about to lapse. */
const renewBeforeMs = 14 * dayMs

let cached: Promise<RTCCertificate | undefined> | undefined

async function loadOrCreate(): Promise<RTCCertificate | undefined> {
  if (typeof RTCPeerConnection === 'undefined' || !('generateCertificate' in RTCPeerConnection))
    return undefined
  const db = await openCertificateDb()
  try {
    const stored: unknown = await db.get(storeName, recordKey)
    if (stored instanceof RTCCertificate && stored.expires - Date.now() > renewBeforeMs) return stored
    const algorithm: EcKeyGenParams & { expires: number } = {
      name: 'ECDSA',
      namedCurve: 'P-256',
      expires: lifetimeMs,
    }
    const fresh = await RTCPeerConnection.generateCertificate(algorithm)
    await db.put(storeName, fresh, recordKey)
    return fresh
  } finally {
    db.close()
  }
}

/**
 * This browser's long-lived DTLS certificate (ECDSA P-256), kept in IndexedDB so its
 * fingerprint stays the same across reloads. Undefined where WebRTC certificates are
 * unavailable; a storage failure falls back to a certificate for this page only.
 */
export function dtlsCertificate(): Promise<RTCCertificate | undefined> {
  cached ??= loadOrCreate().catch((e: unknown) => {
    console.warn('DTLS certificate could not be stored; using a temporary one', e)
    const algorithm: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' }
    return RTCPeerConnection.generateCertificate(algorithm)
  })
  return cached
}
