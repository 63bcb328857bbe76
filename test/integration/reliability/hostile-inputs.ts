// Seeded generators of hostile WebSocket frames and HTTP requests. Same seed, same inputs: a
// failure names its seed and index, and reruns exactly.
import fc from 'fast-check'
import { limits } from '../../../shared/index.ts'

/** A frame as it goes on the wire: JSON text (valid or not) or bytes. */
export type WireFrame = { readonly text: string } | { readonly bytes: Buffer }

/** encodeURIComponent throws on a lone surrogate (a slice can make one): those become U+FFFD. */
const encode = (s: string): string =>
  encodeURIComponent(
    s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'),
  )

/** Who the generated frames may address, so some of them are valid and reach the relay. */
export interface FrameTargets {
  readonly self: string
  /** An online friend: a valid signal to them is relayed. */
  readonly friend: string
  /** A friend who never connects: signals are answered peer-offline. */
  readonly offline: string
  /** Online, but not a friend: signals are refused. */
  readonly stranger: string
}

const b64chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const b64 = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...b64chars), minLength: min, maxLength: max })

/** Strings a parser or a schema might trip on: control characters, lone surrogates, quotes, huge. */
const nastyString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '\u0000',
      '\ud800',
      '\udfff\ud800',
      '"',
      '\\',
      '../../etc/passwd',
      '%00',
      '<script>alert(1)</script>',
      "'; DROP TABLE users; --",
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      'NaN',
      '-0',
      '1e309',
      '\u202e',
      '\ufeff',
      'A'.repeat(1_000),
    ),
  },
  // Lengths around the limits the schemas enforce.
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(
        limits.usernameMaxLength,
        limits.refMaxLength,
        limits.sessionIdMaxLength,
        limits.envelopeMaxLength,
        limits.key32Base64Length,
      )
      .chain((n) => fc.constantFrom(n - 1, n, n + 1).map((k) => 'x'.repeat(Math.max(0, k)))),
  },
)

/** Any JSON value, nasty strings included, nested a little. */
const anyJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    nastyString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(nastyString, tie('value'), { maxKeys: 4 }),
  ),
})).value

/** JSON text nested `depth` arrays/objects deep, as text (JSON.stringify would itself recurse). */
function nestedText(depth: number, kind: 'array' | 'object', inside: string): string {
  const open = kind === 'array' ? '[' : '{"a":'
  const close = kind === 'array' ? ']' : '}'
  return `{"type":"ping","x":${open.repeat(depth)}${inside}${close.repeat(depth)}}`
}

const validFrame = (t: FrameTargets): fc.Arbitrary<Record<string, unknown>> =>
  fc.oneof(
    fc.record({ type: fc.constant('ping'), ref: b64(1, 16) }),
    fc.record({
      type: fc.constant('signal'),
      to: fc.constantFrom(
        t.friend,
        t.friend.toUpperCase(),
        t.offline,
        t.self,
        t.stranger,
        'nobody_here',
        'a.b-c_d',
      ),
      sid: b64(8, 64),
      envelope: fc.string({ minLength: 1, maxLength: 2000 }),
      ref: b64(1, 16),
    }),
    // auth is valid, but not on a socket that is already authenticated
    fc.record({ type: fc.constant('auth'), token: b64(43, 43), ref: b64(1, 16) }),
  )

/** A valid frame with one thing wrong: a field of another type, missing, extra, or renamed. */
const mutatedFrame = (t: FrameTargets): fc.Arbitrary<unknown> =>
  fc
    .tuple(validFrame(t), fc.nat(), anyJson, nastyString, fc.nat({ max: 5 }))
    .map(([frame, pick, value, key, how]) => {
      const copy: Record<string, unknown> = { ...frame }
      const keys = Object.keys(copy)
      const field = keys[pick % keys.length] ?? 'type'
      switch (how) {
        case 0:
          copy[field] = value
          break
        case 1:
          delete copy[field]
          break
        case 2:
          copy[key] = value
          break
        case 3:
          copy['type'] = `${String(copy['type'])}${key}`
          break
        case 4:
          // Own __proto__ and constructor keys, as JSON.parse makes them.
          return JSON.parse(
            JSON.stringify(copy).replace(
              /^\{/,
              `{"__proto__":{"polluted":true},"constructor":${JSON.stringify(value) ?? 'null'},`,
            ),
          ) as unknown
        default:
          copy[field] = Array.isArray(value) ? value : [value]
      }
      return copy
    })

/** Text that is not JSON, or barely is. */
const malformedText = (t: FrameTargets): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    // A valid frame cut short, or with something after it.
    fc.tuple(validFrame(t), fc.nat(), nastyString).map(([f, at, tail]) => {
      const text = JSON.stringify(f)
      return at % 2 === 0 ? text.slice(0, at % text.length) : text + tail
    }),
    fc.constantFrom(
      '',
      '{',
      '}',
      '{"type":"ping",}',
      "{'type':'ping'}",
      '{"type":"ping" /* comment */}',
      '{"type":"ping","x":NaN}',
      '{"type":"ping","x":Infinity}',
      '{"type":"ping","x":"\\uZZZZ"}',
      '{"type":"ping","x":"\\ud800"}',
      '{"type":"ping"}{"type":"ping"}',
      '\ufeff{"type":"ping"}',
      'null',
      '[]',
      '"ping"',
      '1e999999',
      '{"type":"ping","ref":"a","ref":"b"}',
    ),
  )

/** Strings near or over the size limits, in one byte or in several. */
const hugeFrame = fc.oneof(
  fc
    .constantFrom(limits.envelopeMaxLength - 1, limits.envelopeMaxLength + 1)
    .map((n) => ({ type: 'signal', to: 'someone', sid: 'session-1', envelope: 'e'.repeat(n) })),
  fc.constantFrom('x', 'é', '😀').map((c) => ({
    type: 'ping',
    pad: c.repeat(Math.ceil((limits.maxFrameBytes + 16) / Buffer.byteLength(c))),
  })),
  fc.constantFrom('to', 'sid', 'ref', 'type').map((k) => ({
    type: 'signal',
    to: 'someone',
    sid: 'session-1',
    envelope: 'e',
    [k]: 'z'.repeat(60_000),
  })),
)

/** Deep nesting, including far deeper than the limit (counted without recursion by the server). */
const deepFrame = fc
  .tuple(
    fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: limits.maxJsonDepth - 2, max: limits.maxJsonDepth + 2 }) },
      { weight: 3, arbitrary: fc.constant(1_000) },
      { weight: 1, arbitrary: fc.constant(30_000) },
    ),
    fc.constantFrom<'array' | 'object'>('array', 'object'),
    // Brackets inside a string must not count as nesting.
    fc.constantFrom('1', '"[[[[{{{{"', 'null'),
  )
  .map(([depth, kind, inside]) => nestedText(depth, kind, inside))

/** Frames for an authenticated socket: every one must be answered, none may close it. */
export function hostileFrames(targets: FrameTargets, count: number, seed: number): WireFrame[] {
  const arb: fc.Arbitrary<WireFrame> = fc.oneof(
    { weight: 60, arbitrary: malformedText(targets).map((text) => ({ text })) },
    { weight: 75, arbitrary: mutatedFrame(targets).map((f) => ({ text: JSON.stringify(f) ?? 'null' })) },
    { weight: 30, arbitrary: anyJson.map((v) => ({ text: JSON.stringify(v) ?? 'null' })) },
    {
      weight: 30,
      arbitrary: fc
        .tuple(fc.oneof(nastyString, anyJson), b64(1, 8))
        .map(([type, ref]) => ({ text: JSON.stringify({ type, ref }) })),
    },
    { weight: 45, arbitrary: validFrame(targets).map((f) => ({ text: JSON.stringify(f) })) },
    { weight: 8, arbitrary: deepFrame.map((text) => ({ text })) },
    { weight: 1, arbitrary: hugeFrame.map((f) => ({ text: JSON.stringify(f) })) },
    { weight: 9, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({ bytes: Buffer.from(b) })) },
  )
  return fc.sample(arb, { seed, numRuns: count })
}

/** Frames for a socket that has not authenticated: answered with an error, or the socket closed. */
export function preAuthFrames(targets: FrameTargets, count: number, seed: number): WireFrame[] {
  const arb: fc.Arbitrary<WireFrame> = fc.oneof(
    { weight: 6, arbitrary: malformedText(targets).map((text) => ({ text })) },
    { weight: 6, arbitrary: mutatedFrame(targets).map((f) => ({ text: JSON.stringify(f) ?? 'null' })) },
    { weight: 3, arbitrary: validFrame(targets).map((f) => ({ text: JSON.stringify(f) })) },
    { weight: 1, arbitrary: deepFrame.map((text) => ({ text })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({ bytes: Buffer.from(b) })) },
  )
  return fc.sample(arb, { seed, numRuns: count })
}

// ---- HTTP ----

export interface RouteSpec {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** With `:name` placeholders. */
  readonly path: string
  /** A valid body, mutated by the fuzzer; undefined for routes without one. */
  readonly body?: Record<string, unknown>
  /** A valid query, mutated by the fuzzer. */
  readonly query?: Record<string, string>
}

export interface HttpInput {
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body?: string
  /** Which route this was made for, to report failures. */
  readonly route: string
}

const kdf = { alg: 'argon2id13', opsLimit: 3, memLimitBytes: 67_108_864 }
const key = 'A'.repeat(43)
const salt = 'B'.repeat(22)

/** Every route of the API (the test checks this list against signaling/ so none is missed). */
export function routes(someone: string): RouteSpec[] {
  const group = { name: 'g', members: [someone], memberList: 'bWVtYmVycw' }
  return [
    { method: 'POST', path: '/api/prelogin', body: { username: someone } },
    {
      method: 'POST',
      path: '/api/register',
      body: { username: someone, salt, kdf, authKey: key, identityKey: key, keyBundle: 'a2V5' },
    },
    { method: 'POST', path: '/api/login', body: { username: someone, authKey: key } },
    { method: 'POST', path: '/api/logout' },
    { method: 'GET', path: '/api/sessions' },
    { method: 'DELETE', path: '/api/sessions/:id' },
    {
      method: 'POST',
      path: '/api/password',
      body: { authKey: key, newAuthKey: key, newSalt: salt, newKdf: kdf, newKeyBundle: 'a2V5' },
    },
    { method: 'PUT', path: '/api/identity', body: { authKey: key, identityKey: key, keyBundle: 'a2V5' } },
    { method: 'DELETE', path: '/api/account', body: { authKey: key } },
    { method: 'GET', path: '/api/users', query: { prefix: someone.slice(0, 3) } },
    { method: 'GET', path: '/api/users/:username' },
    { method: 'GET', path: '/api/friends' },
    { method: 'GET', path: '/api/friends/requests' },
    { method: 'POST', path: '/api/friends/requests', body: { to: someone, note: 'hi' } },
    { method: 'POST', path: '/api/friends/requests/:username/accept' },
    { method: 'POST', path: '/api/friends/requests/:username/decline' },
    { method: 'DELETE', path: '/api/friends/requests/:username' },
    { method: 'DELETE', path: '/api/friends/:username' },
    { method: 'GET', path: '/api/blocks' },
    { method: 'POST', path: '/api/blocks', body: { username: someone } },
    { method: 'DELETE', path: '/api/blocks/:username' },
    { method: 'GET', path: '/api/groups', query: { after: `1795000000000.${'A'.repeat(22)}` } },
    { method: 'GET', path: '/api/groups/:id' },
    { method: 'POST', path: '/api/groups', body: group },
    {
      method: 'PUT',
      path: '/api/groups/:id/members',
      body: { members: [{ username: someone, role: 'admin' }], memberList: 'bWVtYmVycw' },
    },
    { method: 'PATCH', path: '/api/groups/:id', body: { name: 'renamed' } },
    { method: 'POST', path: '/api/groups/:id/leave' },
    { method: 'GET', path: '/api/ice' },
    { method: 'GET', path: '/healthz' },
    { method: 'GET', path: '/metrics' },
    // The WebSocket endpoint, asked as plain HTTP.
    { method: 'GET', path: '/ws' },
  ]
}

/** Path parameters: valid ones, and ones no route should choke on. */
const paramValue = (someone: string): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(someone, someone.toUpperCase(), 'C'.repeat(22)) },
    { weight: 3, arbitrary: nastyString.map((s) => encode(s.slice(0, 2000))) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%E0%A4%A', '%00', '..', '%2e%2e', '%2F', ';', '*') },
    { weight: 1, arbitrary: fc.nat({ max: 9000 }).map((n) => 'p'.repeat(n)) },
  )

const bodyText = (valid: Record<string, unknown> | undefined): fc.Arbitrary<string | undefined> => {
  const base = valid ?? {}
  const mutated = fc
    .tuple(fc.nat(), anyJson, nastyString, fc.nat({ max: 3 }))
    .map(([pick, value, k, how]) => {
      const copy: Record<string, unknown> = JSON.parse(JSON.stringify(base)) as Record<string, unknown>
      const keys = Object.keys(copy)
      const field = keys.length === 0 ? k : (keys[pick % keys.length] ?? k)
      if (how === 0) copy[field] = value
      else if (how === 1) delete copy[field]
      else if (how === 2) copy[k] = value
      else copy[field] = [copy[field], value]
      return JSON.stringify(copy)
    })
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant(valid === undefined ? undefined : JSON.stringify(valid)) },
    { weight: 32, arbitrary: mutated },
    { weight: 12, arbitrary: anyJson.map((v) => JSON.stringify(v) ?? 'null') },
    {
      weight: 12,
      arbitrary: malformedText({
        self: 'x_self',
        friend: 'x_friend',
        offline: 'x_off',
        stranger: 'x_stranger',
      }),
    },
    { weight: 4, arbitrary: deepFrame },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(limits.maxFrameBytes - 100, limits.maxFrameBytes + 1, 100_000)
        .map((n) => JSON.stringify({ ...base, pad: 'p'.repeat(n) })),
    },
  )
}

const contentType = fc.oneof(
  { weight: 12, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      'application/jsonx',
      '',
    ),
  },
)

/** `count` requests spread over every route, some with a live token, some with a broken one. */
export function hostileRequests(
  specs: readonly RouteSpec[],
  someone: string,
  liveToken: string,
  count: number,
  seed: number,
): HttpInput[] {
  const token = fc.oneof(
    { weight: 6, arbitrary: fc.constant(`Bearer ${liveToken}`) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    {
      weight: 2,
      arbitrary: fc.oneof(
        b64(43, 43).map((t) => `Bearer ${t}`),
        nastyString.map((t) => `Bearer ${t.replace(/[^\x20-\x7e]/g, '').slice(0, 200)}`),
        fc.constantFrom('Bearer', 'Bearer ', 'Basic Zm9vOmJhcg==', `bearer ${liveToken}`),
      ),
    },
  )
  const query = (valid: Record<string, string> | undefined): fc.Arbitrary<string> =>
    fc.oneof(
      fc.constant(valid === undefined ? '' : `?${new URLSearchParams(valid).toString()}`),
      fc
        .array(fc.tuple(fc.oneof(fc.constantFrom('prefix', 'after'), nastyString), nastyString), {
          maxLength: 4,
        })
        .map((pairs) =>
          pairs.length === 0
            ? ''
            : `?${pairs.map(([k, v]) => `${encode(k)}=${encode(v.slice(0, 500))}`).join('&')}`,
        ),
      fc.constantFrom(
        '?prefix',
        '?prefix=',
        '?prefix[]=a',
        '?prefix=a&prefix=b',
        '?%zz=1',
        '?=&=&',
        '?__proto__=x',
      ),
    )
  // One arbitrary per route, built once (chain would build them again for every sample).
  const params = fc.array(paramValue(someone), { minLength: 2, maxLength: 2 })
  const perRoute = specs.map((spec) =>
    fc
      .record({
        body: bodyText(spec.body),
        params,
        query: query(spec.query),
        type: contentType,
        auth: token,
        // Now and then a method the route does not have, or a path next to it.
        method: fc.oneof(
          { weight: 12, arbitrary: fc.constant(spec.method) },
          { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS') },
        ),
        // Routes without a body get one now and then.
        strayBody: fc.boolean(),
        suffix: fc.oneof(
          { weight: 12, arbitrary: fc.constant('') },
          { weight: 1, arbitrary: fc.constantFrom('/', '//', '/x', '.json', '?', '#') },
        ),
      })
      .map(({ body, params: values, query: q, type, auth, method, strayBody, suffix }): HttpInput => {
        let n = 0
        const path = spec.path.replace(/:[a-z]+/g, () => values[n++] ?? 'x') + suffix + q
        const headers: Record<string, string> = {}
        // The live session is not logged out by the fuzzer: everything after would only test 401.
        const live = auth === `Bearer ${liveToken}`
        if (auth !== undefined && !(live && spec.path === '/api/logout')) headers['authorization'] = auth
        const sendsBody = method !== 'GET' && body !== undefined && (spec.body !== undefined || strayBody)
        if (sendsBody && type !== '') headers['content-type'] = type
        return {
          method,
          path,
          headers,
          ...(sendsBody ? { body } : {}),
          route: `${spec.method} ${spec.path}`,
        }
      }),
  )
  return fc.sample(fc.oneof(...perRoute), { seed, numRuns: count })
}
