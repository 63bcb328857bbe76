import { CryptoError } from './errors.ts'

/**
 * A DTLS certificate fingerprint as SDP writes it: "<hash-func> <hex pairs>", e.g.
 * "sha-256 AB:CD:...". Normalised so the same certificate always compares equal.
 * @throws CryptoError 'bad-format' if it is not a hash name followed by colon-separated hex.
 */
export function normalizeFingerprint(value: string): string {
  const m = /^\s*([A-Za-z0-9-]{1,16})\s+((?:[0-9A-Fa-f]{2}:){15,63}[0-9A-Fa-f]{2})\s*$/.exec(value)
  if (m === null || m[1] === undefined || m[2] === undefined) {
    throw new CryptoError('bad-format', 'not a DTLS fingerprint')
  }
  return `${m[1].toLowerCase()} ${m[2].toUpperCase()}`
}

/**
 * Every `a=fingerprint` value in an SDP, normalised, in order.
 * @throws CryptoError 'fingerprint-mismatch' when a fingerprint line does not parse: an
 * attribute we cannot read is one we cannot check.
 */
export function sdpFingerprints(sdp: string): string[] {
  const out: string[] = []
  for (const rawLine of sdp.split(/\r?\n/)) {
    const line = rawLine.trim()
    if (!/^a=fingerprint:/i.test(line)) continue
    try {
      out.push(normalizeFingerprint(line.slice('a=fingerprint:'.length)))
    } catch (cause) {
      throw new CryptoError('fingerprint-mismatch', 'unreadable a=fingerprint line in SDP', { cause })
    }
  }
  return out
}
