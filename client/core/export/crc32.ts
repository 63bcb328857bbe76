// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as ZIP uses it. Slicing-by-4 tables:
// about four times the speed of the byte-at-a-time loop, for attachments of many MiB.

const tables: Uint32Array[] = (() => {
  const t0 = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t0[n] = c >>> 0
  }
  const out = [t0]
  for (let t = 1; t < 4; t++) {
    const prev = out[t - 1] as Uint32Array
    const next = new Uint32Array(256)
    for (let n = 0; n < 256; n++)
      next[n] = (t0[(prev[n] as number) & 0xff] as number) ^ ((prev[n] as number) >>> 8)
    out.push(next)
  }
  return out
})()

const [t0, t1, t2, t3] = tables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array]

/** Continues a CRC-32 over `bytes`; start with 0. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0
  let i = 0
  const n = bytes.length
  for (; i + 4 <= n; i += 4) {
    c ^=
      (bytes[i] as number) |
      ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) |
      ((bytes[i + 3] as number) << 24)
    c =
      (t3[c & 0xff] as number) ^
      (t2[(c >>> 8) & 0xff] as number) ^
      (t1[(c >>> 16) & 0xff] as number) ^
      (t0[c >>> 24] as number)
  }
  for (; i < n; i++) c = (t0[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8)
  return ~c >>> 0
}
