/**
 * A small QR code encoder (ISO/IEC 18004): byte mode, error correction level M, versions
 * 1–10 (up to 213 bytes), best of the eight masks. Enough for the 87-character safety-number
 * payload, with no dependency and nothing fetched. After Project Nayuki's QR Code generator.
 */

/** Per version (index 1–10), level M: error-correction codewords per block, and block count. */
const eccPerBlock = [0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26]
const blockCount = [0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5]
const maxVersion = 10
/** Format bits for level M. */
const eccFormatBits = 0

export interface QrCode {
  readonly size: number
  /** Row-major, true for a dark module. */
  readonly modules: readonly (readonly boolean[])[]
}

function rawDataModules(ver: number): number {
  let n = (16 * ver + 128) * ver + 64
  if (ver >= 2) {
    const align = Math.floor(ver / 7) + 2
    n -= (25 * align - 10) * align - 55
    if (ver >= 7) n -= 36
  }
  return n
}

function dataCodewords(ver: number): number {
  return Math.floor(rawDataModules(ver) / 8) - (eccPerBlock[ver] ?? 0) * (blockCount[ver] ?? 0)
}

function alignmentPositions(ver: number, size: number): number[] {
  if (ver === 1) return []
  const count = Math.floor(ver / 7) + 2
  const step = Math.ceil((ver * 4 + 4) / (count * 2 - 2)) * 2
  const out = [6]
  for (let pos = size - 7; out.length < count; pos -= step) out.splice(1, 0, pos)
  return out
}

// ---- Reed–Solomon over GF(2^8) with the polynomial 0x11D ----

function gfMul(x: number, y: number): number {
  let z = 0
  for (let i = 7; i >= 0; i--) {
    z = (z << 1) ^ ((z >>> 7) * 0x11d)
    z ^= ((y >>> i) & 1) * x
  }
  return z & 0xff
}

function rsDivisor(degree: number): number[] {
  const result = new Array<number>(degree).fill(0)
  result[degree - 1] = 1
  let root = 1
  for (let i = 0; i < degree; i++) {
    for (let j = 0; j < degree; j++) {
      result[j] = gfMul(result[j] ?? 0, root) ^ (j + 1 < degree ? (result[j + 1] ?? 0) : 0)
    }
    root = gfMul(root, 0x02)
  }
  return result
}

function rsRemainder(data: readonly number[], divisor: readonly number[]): number[] {
  const result = new Array<number>(divisor.length).fill(0)
  for (const b of data) {
    const factor = b ^ (result.shift() ?? 0)
    result.push(0)
    for (let i = 0; i < divisor.length; i++) result[i] = (result[i] ?? 0) ^ gfMul(divisor[i] ?? 0, factor)
  }
  return result
}

// ---- data: bit stream, blocks, interleaving ----

function encodeData(bytes: Uint8Array, ver: number): number[] {
  const bits: number[] = []
  const put = (value: number, length: number) => {
    for (let i = length - 1; i >= 0; i--) bits.push((value >>> i) & 1)
  }
  put(0b0100, 4)
  put(bytes.length, ver <= 9 ? 8 : 16)
  for (const b of bytes) put(b, 8)
  const capacityBits = dataCodewords(ver) * 8
  put(0, Math.min(4, capacityBits - bits.length))
  put(0, (8 - (bits.length % 8)) % 8)
  const codewords: number[] = []
  for (let i = 0; i < bits.length; i += 8)
    codewords.push(bits.slice(i, i + 8).reduce((a, b) => (a << 1) | b, 0))
  for (let pad = 0xec; codewords.length < dataCodewords(ver); pad ^= 0xec ^ 0x11) codewords.push(pad)
  return codewords
}

function withErrorCorrection(data: readonly number[], ver: number): number[] {
  const blocks = blockCount[ver] ?? 1
  const eccLen = eccPerBlock[ver] ?? 0
  const raw = Math.floor(rawDataModules(ver) / 8)
  const shortBlocks = blocks - (raw % blocks)
  const shortLen = Math.floor(raw / blocks)
  const divisor = rsDivisor(eccLen)
  const all: number[][] = []
  for (let i = 0, k = 0; i < blocks; i++) {
    const dat = data.slice(k, k + shortLen - eccLen + (i < shortBlocks ? 0 : 1))
    k += dat.length
    const ecc = rsRemainder(dat, divisor)
    if (i < shortBlocks) dat.push(0)
    all.push([...dat, ...ecc])
  }
  const out: number[] = []
  for (let i = 0; i < (all[0]?.length ?? 0); i++) {
    all.forEach((block, j) => {
      if (i !== shortLen - eccLen || j >= shortBlocks) out.push(block[i] ?? 0)
    })
  }
  return out
}

// ---- the matrix ----

class Matrix {
  readonly modules: boolean[][]
  readonly isFunction: boolean[][]

  constructor(readonly size: number) {
    this.modules = Array.from({ length: size }, () => new Array<boolean>(size).fill(false))
    this.isFunction = Array.from({ length: size }, () => new Array<boolean>(size).fill(false))
  }

  get(x: number, y: number): boolean {
    return this.modules[y]?.[x] ?? false
  }

  setFunction(x: number, y: number, dark: boolean): void {
    const row = this.modules[y]
    const fn = this.isFunction[y]
    if (row === undefined || fn === undefined || x < 0 || x >= this.size) return
    row[x] = dark
    fn[x] = true
  }

  drawFunctionPatterns(ver: number): void {
    const size = this.size
    for (let i = 0; i < size; i++) {
      this.setFunction(6, i, i % 2 === 0)
      this.setFunction(i, 6, i % 2 === 0)
    }
    this.drawFinder(3, 3)
    this.drawFinder(size - 4, 3)
    this.drawFinder(3, size - 4)
    const align = alignmentPositions(ver, size)
    const last = align.length - 1
    align.forEach((x, i) =>
      align.forEach((y, j) => {
        if (!((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)))
          this.drawAlignment(x, y)
      }),
    )
    this.drawFormat(0)
    this.drawVersion(ver)
  }

  private drawFinder(cx: number, cy: number): void {
    for (let dy = -4; dy <= 4; dy++) {
      for (let dx = -4; dx <= 4; dx++) {
        const dist = Math.max(Math.abs(dx), Math.abs(dy))
        this.setFunction(cx + dx, cy + dy, dist !== 2 && dist !== 4)
      }
    }
  }

  private drawAlignment(cx: number, cy: number): void {
    for (let dy = -2; dy <= 2; dy++)
      for (let dx = -2; dx <= 2; dx++)
        this.setFunction(cx + dx, cy + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1)
  }

  drawFormat(mask: number): void {
    const data = (eccFormatBits << 3) | mask
    let rem = data
    for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537)
    const bits = ((data << 10) | rem) ^ 0x5412
    const bit = (i: number) => ((bits >>> i) & 1) !== 0
    const size = this.size
    for (let i = 0; i <= 5; i++) this.setFunction(8, i, bit(i))
    this.setFunction(8, 7, bit(6))
    this.setFunction(8, 8, bit(7))
    this.setFunction(7, 8, bit(8))
    for (let i = 9; i < 15; i++) this.setFunction(14 - i, 8, bit(i))
    for (let i = 0; i < 8; i++) this.setFunction(size - 1 - i, 8, bit(i))
    for (let i = 8; i < 15; i++) this.setFunction(8, size - 15 + i, bit(i))
    this.setFunction(8, size - 8, true)
  }

  private drawVersion(ver: number): void {
    if (ver < 7) return
    let rem = ver
    for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25)
    const bits = (ver << 12) | rem
    for (let i = 0; i < 18; i++) {
      const dark = ((bits >>> i) & 1) !== 0
      const a = this.size - 11 + (i % 3)
      const b = Math.floor(i / 3)
      this.setFunction(a, b, dark)
      this.setFunction(b, a, dark)
    }
  }

  drawCodewords(data: readonly number[]): void {
    let i = 0
    for (let right = this.size - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5
      for (let vert = 0; vert < this.size; vert++) {
        for (let j = 0; j < 2; j++) {
          const x = right - j
          const upward = ((right + 1) & 2) === 0
          const y = upward ? this.size - 1 - vert : vert
          const row = this.modules[y]
          if (row !== undefined && !this.isFunction[y]?.[x] && i < data.length * 8) {
            row[x] = (((data[i >>> 3] ?? 0) >>> (7 - (i & 7))) & 1) !== 0
            i++
          }
        }
      }
    }
  }

  applyMask(mask: number): void {
    for (let y = 0; y < this.size; y++) {
      const row = this.modules[y]
      const fn = this.isFunction[y]
      if (row === undefined || fn === undefined) continue
      for (let x = 0; x < this.size; x++) if (!fn[x] && maskBit(mask, x, y)) row[x] = !row[x]
    }
  }

  /** The standard's penalty score: long runs, 2×2 blocks, finder-like patterns, imbalance. */
  penalty(): number {
    let score = 0
    const size = this.size
    const lines: boolean[][] = []
    for (let i = 0; i < size; i++) {
      lines.push(Array.from({ length: size }, (_, k) => this.get(k, i)))
      lines.push(Array.from({ length: size }, (_, k) => this.get(i, k)))
    }
    const finderLike = [
      [true, false, true, true, true, false, true, false, false, false, false],
      [false, false, false, false, true, false, true, true, true, false, true],
    ]
    for (const line of lines) {
      let run = 1
      for (let k = 1; k <= size; k++) {
        if (k < size && line[k] === line[k - 1]) run++
        else {
          if (run >= 5) score += run - 2
          run = 1
        }
      }
      for (let k = 0; k + 11 <= size; k++)
        for (const p of finderLike) if (p.every((v, o) => line[k + o] === v)) score += 40
    }
    let dark = 0
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const c = this.get(x, y)
        if (c) dark++
        if (
          x + 1 < size &&
          y + 1 < size &&
          c === this.get(x + 1, y) &&
          c === this.get(x, y + 1) &&
          c === this.get(x + 1, y + 1)
        )
          score += 3
      }
    }
    const total = size * size
    score += (Math.ceil(Math.abs(dark * 20 - total * 10) / total) - 1) * 10
    return score
  }
}

function maskBit(mask: number, x: number, y: number): boolean {
  switch (mask) {
    case 0:
      return (x + y) % 2 === 0
    case 1:
      return y % 2 === 0
    case 2:
      return x % 3 === 0
    case 3:
      return (x + y) % 3 === 0
    case 4:
      return (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0
    case 5:
      return ((x * y) % 2) + ((x * y) % 3) === 0
    case 6:
      return (((x * y) % 2) + ((x * y) % 3)) % 2 === 0
    default:
      return (((x + y) % 2) + ((x * y) % 3)) % 2 === 0
  }
}

/**
 * Encodes text (UTF-8) as a QR code.
 * @throws RangeError if the text needs more than version 10 holds.
 */
export function encodeQr(text: string): QrCode {
  const bytes = new TextEncoder().encode(text)
  let ver = 1
  while (ver <= maxVersion && 4 + (ver <= 9 ? 8 : 16) + bytes.length * 8 > dataCodewords(ver) * 8) ver++
  if (ver > maxVersion) throw new RangeError(`QR payload of ${bytes.length} bytes is too long`)
  const codewords = withErrorCorrection(encodeData(bytes, ver), ver)
  let best: Matrix | undefined
  let bestScore = Infinity
  for (let mask = 0; mask < 8; mask++) {
    const m = new Matrix(ver * 4 + 17)
    m.drawFunctionPatterns(ver)
    m.drawCodewords(codewords)
    m.applyMask(mask)
    m.drawFormat(mask)
    const score = m.penalty()
    if (score < bestScore) {
      best = m
      bestScore = score
    }
  }
  if (best === undefined) throw new RangeError('no QR mask')
  return { size: best.size, modules: best.modules }
}
