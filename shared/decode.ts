import type { TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { ClientFrame, ServerFrame } from './frames.ts'
import { GroupContent, GroupFrame } from './group-peer.ts'
import { PeerMessage } from './peer.ts'
import { limits } from './limits.ts'

/** Why a raw frame could not be decoded. */
export type DecodeFailure =
  | { readonly reason: 'frame-too-large' }
  | { readonly reason: 'too-deep' }
  | { readonly reason: 'bad-json' }
  | { readonly reason: 'unknown-type'; readonly ref?: string }
  | { readonly reason: 'bad-frame'; readonly path: string; readonly ref?: string }

export type Decoded<T> = { readonly ok: true; readonly value: T } | ({ readonly ok: false } & DecodeFailure)

/**
 * Deepest nesting of arrays and objects in JSON text, counted without parsing, so hostile
 * input cannot make the parser recurse. Brackets inside strings do not count.
 */
export function jsonDepth(text: string): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      depth++
      if (depth > max) max = depth
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return max
}

/** Parse JSON text within the size and depth limits; never throws. */
export type ParseFailure = Extract<DecodeFailure, { reason: 'frame-too-large' | 'too-deep' | 'bad-json' }>

export function parseJson(
  text: string,
  maxBytes: number = limits.maxFrameBytes,
): { readonly ok: true; readonly value: unknown } | ({ readonly ok: false } & ParseFailure) {
  // UTF-16 length is a lower bound on UTF-8 bytes and 3× an upper bound; exact count only near the limit.
  if (text.length > maxBytes || (text.length * 3 > maxBytes && utf8Length(text) > maxBytes))
    return { ok: false, reason: 'frame-too-large' }
  if (!fewBrackets(text, limits.maxJsonDepth) && jsonDepth(text) > limits.maxJsonDepth)
    return { ok: false, reason: 'too-deep' }
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch {
    return { ok: false, reason: 'bad-json' }
  }
}

/**
 * True when the text holds at most `n` opening brackets in all, so it cannot nest deeper than
 * that: found with indexOf (native), where jsonDepth walks every character. A signal frame has
 * one; only frames with more take the walk (issue 17: it was 5 % of the relay's time).
 */
function fewBrackets(text: string, n: number): boolean {
  let count = 0
  for (const bracket of ['{', '[']) {
    for (let i = text.indexOf(bracket); i >= 0; i = text.indexOf(bracket, i + 1))
      if (++count > n) return false
  }
  return true
}

function utf8Length(text: string): number {
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

function refOf(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined
  const ref = (raw as { ref?: unknown }).ref
  return typeof ref === 'string' && ref.length > 0 && ref.length <= limits.refMaxLength ? ref : undefined
}

function firstErrorPath(schema: TSchema, raw: unknown): string {
  const first = Value.Errors(schema, raw).First()
  return first ? `${first.path || '/'}: ${first.message}` : '/'
}

type TaggedUnion = TSchema & { anyOf: readonly (TSchema & { properties: { type: TSchema } })[] }

/** The member schema of a tagged union for each `type` literal. */
function membersByType(union: TaggedUnion): ReadonlyMap<string, TSchema> {
  return new Map(
    union.anyOf.map((member) => [(member.properties.type as { const?: string }).const ?? '', member]),
  )
}

/** A validator for one schema: TypeBox's interpreter by default, a compiled one where allowed. */
export type Checker = (value: unknown) => boolean

function decodeTagged<T>(
  members: ReadonlyMap<string, TSchema>,
  raw: unknown,
  checkers?: ReadonlyMap<string, Checker>,
): Decoded<T> {
  const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined
  const ref = refOf(raw)
  const withRef = ref === undefined ? {} : { ref }
  const schema = typeof type === 'string' ? members.get(type) : undefined
  if (schema === undefined) return { ok: false, reason: 'unknown-type', ...withRef }
  const compiled = typeof type === 'string' ? checkers?.get(type) : undefined
  const valid = compiled === undefined ? Value.Check(schema, raw) : compiled(raw)
  if (!valid) return { ok: false, reason: 'bad-frame', path: firstErrorPath(schema, raw), ...withRef }
  return { ok: true, value: raw as T }
}

const clientMembers = membersByType(ClientFrame)
const serverMembers = membersByType(ServerFrame)

/** Decode a frame sent by a client. Accepts only `unknown`; never throws. */
export function decodeClientFrame(raw: unknown): Decoded<ClientFrame> {
  return decodeTagged<ClientFrame>(clientMembers, raw)
}

/** Decode a frame sent by the server (used by the client). Never throws. */
export function decodeServerFrame(raw: unknown): Decoded<ServerFrame> {
  return decodeTagged<ServerFrame>(serverMembers, raw)
}

const peerMembers = membersByType(PeerMessage)

/** Decode a frame from a peer (after decryption). Never throws. */
export function decodePeerMessage(raw: unknown): Decoded<PeerMessage> {
  return decodeTagged<PeerMessage>(peerMembers, raw)
}

/**
 * A client-frame decoder whose validators come from `compile` (the server passes TypeBox's
 * TypeCompiler, several times faster; the browser keeps the interpreter, since compiled
 * validators need `unsafe-eval`).
 */
export function clientFrameDecoder(
  compile: (schema: TSchema) => Checker,
): (raw: unknown) => Decoded<ClientFrame> {
  const checkers = new Map([...clientMembers].map(([type, schema]) => [type, compile(schema)]))
  return (raw) => decodeTagged<ClientFrame>(clientMembers, raw, checkers)
}

const groupMembers = membersByType(GroupFrame)
const groupContentMembers = membersByType(GroupContent)

/** Decode a group frame from a member (after pairwise decryption). Never throws. */
export function decodeGroupFrame(raw: unknown): Decoded<GroupFrame> {
  return decodeTagged<GroupFrame>(groupMembers, raw)
}

/** Decode what a group message decrypted to. Never throws. */
export function decodeGroupContent(raw: unknown): Decoded<GroupContent> {
  return decodeTagged<GroupContent>(groupContentMembers, raw)
}

/**
 * One frame from a friend's data channel (after decryption), decoded once and told apart by its
 * tag: a group frame, or a frame of the one-to-one conversation. Never throws.
 */
export type ChannelFrame =
  | { readonly channel: 'group'; readonly frame: GroupFrame }
  | { readonly channel: 'direct'; readonly frame: PeerMessage }

export function decodeChannelFrame(raw: unknown): Decoded<ChannelFrame> {
  const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined
  if (typeof type === 'string' && groupMembers.has(type)) {
    const group = decodeGroupFrame(raw)
    return group.ok ? { ok: true, value: { channel: 'group', frame: group.value } } : group
  }
  const direct = decodePeerMessage(raw)
  return direct.ok ? { ok: true, value: { channel: 'direct', frame: direct.value } } : direct
}
