import { fromBase64Url, toBase64Url } from '../../../crypto/index.ts'
import { TincanError } from '../errors.ts'

// JSON that also carries bytes: a Uint8Array becomes {"$bytes": "<base64url>"}. Records of any
// store can then be copied into a backup as they are, including fields added later.
//
// Values are walked by hand rather than through JSON.stringify's replacer or JSON.parse's
// reviver: those call back into JavaScript for every value, which made tagging the slowest part
// of a backup. Most records hold no bytes and are only checked, not copied.

const tag = '$bytes'

export const unsupportedValueErrorCodes = ['unsupported-value'] as const

/** Values that cannot go through JSON unchanged (a Date, a Map, a CryptoKey…). */
export class UnsupportedValueError extends TincanError<(typeof unsupportedValueErrorCodes)[number]> {
  override readonly name = 'UnsupportedValueError'
  constructor(message: string) {
    super('unsupported-value', message)
  }
}

/** Checks that `v` is plain data; true when it holds bytes (and so needs a tagged copy). */
function holdsBytes(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return false
    case 'number':
      if (!Number.isFinite(v))
        throw new UnsupportedValueError('cannot copy a non-finite number into a backup')
      return false
    case 'object': {
      if (v === null) return false
      if (v instanceof Uint8Array || v instanceof ArrayBuffer) return true
      let bytes = false
      if (Array.isArray(v)) {
        for (const x of v) bytes = holdsBytes(x) || bytes
        return bytes
      }
      const proto: unknown = Object.getPrototypeOf(v)
      if (proto !== Object.prototype && proto !== null)
        throw new UnsupportedValueError(`cannot copy a ${v.constructor.name} into a backup`)
      for (const x of Object.values(v)) bytes = holdsBytes(x) || bytes
      return bytes
    }
    case 'bigint':
    case 'function':
    case 'symbol':
      throw new UnsupportedValueError(`cannot copy a ${typeof v} into a backup`)
  }
}

/** A copy with bytes tagged; parts without bytes are shared, not copied. */
function tagged(v: unknown): unknown {
  if (v instanceof Uint8Array) return { [tag]: toBase64Url(v) }
  if (v instanceof ArrayBuffer) return { [tag]: toBase64Url(new Uint8Array(v)) }
  if (typeof v !== 'object' || v === null || !holdsBytes(v)) return v
  if (Array.isArray(v)) return v.map(tagged)
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) out[k] = tagged(x)
  return out
}

/** @throws UnsupportedValueError for values JSON would change or drop silently. */
export function toTaggedJson(value: unknown): string {
  return JSON.stringify(holdsBytes(value) ? tagged(value) : value)
}

/** Replaces tagged bytes in place (the value was just parsed: nobody else holds it). */
function untag(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = untag(v[i])
    return v
  }
  const o = v as Record<string, unknown>
  const encoded = o[tag]
  if (typeof encoded === 'string' && Object.keys(o).length === 1)
    return fromBase64Url(encoded, undefined, tag)
  for (const k in o) {
    const x = o[k]
    const y = untag(x)
    if (y !== x) o[k] = y
  }
  return o
}

/** @throws SyntaxError for bad JSON, CryptoError 'bad-format' for a bad bytes field. */
export function fromTaggedJson(text: string): unknown {
  return untag(JSON.parse(text) as unknown)
}
