import { fromBase64Url, toBase64Url } from '../../../crypto/index.ts'

// JSON that also carries bytes: a Uint8Array becomes {"$bytes": "<base64url>"}. Records of any
// store can then be copied into a backup as they are, including fields added later.

const tag = '$bytes'

/** Values that cannot go through JSON unchanged (a Date, a Map, a CryptoKey…). */
export class UnsupportedValueError extends Error {
  override readonly name = 'UnsupportedValueError'
}

function replacer(this: unknown, key: string, value: unknown): unknown {
  // `value` has been through toJSON already (a Date arrives as a string): look at the original.
  const original: unknown = (this as Record<string, unknown>)[key]
  if (original instanceof Uint8Array) return { [tag]: toBase64Url(original) }
  if (original instanceof ArrayBuffer) return { [tag]: toBase64Url(new Uint8Array(original)) }
  if (typeof original === 'object' && original !== null && !Array.isArray(original)) {
    const proto: unknown = Object.getPrototypeOf(original)
    if (proto !== Object.prototype && proto !== null)
      throw new UnsupportedValueError(`cannot copy a ${original.constructor.name} into a backup`)
  }
  if (typeof original === 'number' && !Number.isFinite(original))
    throw new UnsupportedValueError('cannot copy a non-finite number into a backup')
  if (typeof original === 'bigint' || typeof original === 'function' || typeof original === 'symbol')
    throw new UnsupportedValueError(`cannot copy a ${typeof original} into a backup`)
  return value
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value)
    const encoded = (value as Record<string, unknown>)[tag]
    if (keys.length === 1 && typeof encoded === 'string') return fromBase64Url(encoded, undefined, tag)
  }
  return value
}

/** @throws UnsupportedValueError for values JSON would change or drop silently. */
export function toTaggedJson(value: unknown): string {
  return JSON.stringify(value, replacer)
}

/** @throws SyntaxError for bad JSON, CryptoError 'bad-format' for a bad bytes field. */
export function fromTaggedJson(text: string): unknown {
  return JSON.parse(text, reviver) as unknown
}
