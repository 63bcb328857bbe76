import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'
import { CryptoError, type CryptoErrorCode } from '../../../crypto/index.ts'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const vectorsDir = path.resolve(repoRoot, '..', 'shared', 'vectors')

export function readVectors<T>(relativePath: string): T {
  return JSON.parse(readFileSync(path.join(vectorsDir, relativePath), 'utf8')) as T
}

export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '')
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error(`bad hex: ${text}`)
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16))
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

/** Asserts that `fn` throws a CryptoError with exactly `code`. */
export function expectCode(fn: () => unknown, code: CryptoErrorCode): void {
  let thrown: unknown = null
  try {
    fn()
  } catch (e) {
    thrown = e
  }
  expect(thrown, `expected CryptoError '${code}'`).toBeInstanceOf(CryptoError)
  expect((thrown as CryptoError).code).toBe(code)
}

export async function expectCodeAsync(fn: () => Promise<unknown>, code: CryptoErrorCode): Promise<void> {
  let thrown: unknown = null
  try {
    await fn()
  } catch (e) {
    thrown = e
  }
  expect(thrown, `expected CryptoError '${code}'`).toBeInstanceOf(CryptoError)
  expect((thrown as CryptoError).code).toBe(code)
}

/** Flips one bit of a copy. */
export function flipBit(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const copy = bytes.slice()
  copy[index] = (copy[index] ?? 0) ^ (1 << bit)
  return copy
}
