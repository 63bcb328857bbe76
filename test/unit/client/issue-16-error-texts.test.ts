// Issue 16, item 3: one error vocabulary. Every code of every error the client throws, and of
// every failure it reports as an event, has a sentence in English and in Chinese (or, for an
// event, is deliberately not shown); no exception's own text is ever what a person reads.
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CryptoError } from '../../../crypto/index.ts'
import { AccountError } from '../../../client/core/account.ts'
import { MessageActionError } from '../../../client/core/action-error.ts'
import { ApiError } from '../../../client/core/api.ts'
import { TincanError } from '../../../client/core/errors.ts'
import { DataError } from '../../../client/core/export/errors.ts'
import { UnsupportedValueError } from '../../../client/core/export/tagged-json.ts'
import { FileStoreError } from '../../../client/core/files/file-store.ts'
import { PrepareError } from '../../../client/core/files/outgoing.ts'
import { FileTransferError } from '../../../client/core/files/types.ts'
import { GroupError } from '../../../client/core/groups/errors.ts'
import type { GroupErrorEventCode } from '../../../client/core/groups/types.ts'
import type { PeerErrorCode } from '../../../client/core/peer-error.ts'
import {
  errorRows,
  errorSentence,
  eventCodes,
  fileErrorSentence,
  groupEventSentence,
  peerErrorSentence,
  unexpectedSentence,
} from '../../../client/ui/src/lib/error-texts.ts'
import { locales, translate, type Sentence } from '../../../client/ui/src/lib/i18n/translate.ts'
import { KdfError } from '../../../client/core/kdf/worker-kdf.ts'
import { OnceAWhile } from '../../../client/ui/src/lib/once-a-while.ts'
import { CameraError } from '../../../client/ui/src/lib/qr-scan.ts'
import { RtcPeerError } from '../../../client/core/peer/rtc-peer.ts'

/** What an exception's own text looks like when it leaks: none of it may reach a person. */
const rawDetail = "Cannot read properties of null (reading 'remoteDescription') at onConnect (link.ts:122)"
const han = /[\u4e00-\u9fff]/

/** One instance of each client error class with the given code, carrying `rawDetail` as its message. */
const makers: Record<string, (code: string) => unknown> = {
  ApiError: (code) => new ApiError(code as ApiError['code'], rawDetail, 400),
  AccountError: (code) => new AccountError(code as AccountError['code'], rawDetail),
  MessageActionError: (code) => new MessageActionError(code as MessageActionError['code'], rawDetail),
  DataError: (code) => new DataError(code as DataError['code'], rawDetail),
  GroupError: (code) => new GroupError(code as GroupError['code'], rawDetail),
  FileTransferError: (code) => new FileTransferError(code as FileTransferError['code'], rawDetail),
  FileStoreError: (code) => new FileStoreError(code as FileStoreError['code'], rawDetail),
  PrepareError: (code) => new PrepareError(code as PrepareError['code'], rawDetail),
  UnsupportedValueError: () => new UnsupportedValueError(rawDetail),
  KdfError: () => new KdfError(rawDetail),
  CryptoError: (code) => new CryptoError(code as CryptoError['code'], rawDetail),
  RtcPeerError: (code) => new RtcPeerError(code as RtcPeerError['code'], rawDetail),
  CameraError: (code) => new CameraError(code as CameraError['code'], { cause: rawDetail }),
}

/** Renders `sentence` in every language and checks each is a finished sentence of that language. */
function expectSaidEverywhere(
  sentence: Sentence | undefined,
  code: string,
  names: readonly string[] = [],
): void {
  expect(sentence, code).toBeDefined()
  if (sentence === undefined) return
  const texts = locales.map((locale) => [locale, translate(locale, sentence.key, sentence.params)] as const)
  for (const [locale, text] of texts) {
    const where = `${code} in ${locale}`
    expect(text.trim().length, where).toBeGreaterThan(3)
    expect(text, where).not.toMatch(/[{}]/)
    expect(text, where).not.toContain('Cannot read')
    expect(text, where).not.toContain('link.ts')
    expect(text, where).not.toMatch(/\bundefined\b|\bnull\b/)
    // A code is for programs: 'bad-signature' is not a sentence.
    if (code.includes('-')) expect(text, where).not.toContain(code)
    for (const name of names) expect(text, where).toContain(name)
    if (locale === 'en') expect(text, where).not.toMatch(han)
    else expect(text, where).toMatch(han)
  }
  expect(new Set(texts.map(([, text]) => text)).size, `${code}: one text per language`).toBe(texts.length)
}

describe('the error vocabulary (issue 16)', () => {
  it('gives every code of every client error class a sentence of its own in English and in Chinese', () => {
    expect(errorRows.map((r) => r.name).sort()).toEqual(Object.keys(makers).sort())
    let codes = 0
    for (const row of errorRows) {
      const make = makers[row.name]
      expect(make, row.name).toBeDefined()
      for (const code of row.codes) {
        const sentence = errorSentence(make?.(code))
        expect(sentence?.key, `${row.name} ${code}`).not.toBe(unexpectedSentence.key)
        expectSaidEverywhere(sentence, `${row.name} ${code}`)
        codes++
      }
    }
    // ApiError alone has 30 (the server's 28 and two of the client's own).
    expect(codes).toBeGreaterThan(80)
  })

  it('tells why a file transfer failed in both languages, naming the friend where it matters', () => {
    for (const code of eventCodes.file) expectSaidEverywhere(fileErrorSentence(code, 'bob'), code)
    const peerFull = fileErrorSentence('peer-storage-full', 'bob')
    expect(translate('en', peerFull.key, peerFull.params)).toContain('bob')
  })

  it('tells of refused group data in both languages, except a removed member’s late data, which is only logged', () => {
    const quiet: GroupErrorEventCode[] = []
    for (const code of eventCodes.group) {
      const sentence = groupEventSentence(
        { groupId: 'g1', code, message: rawDetail, peer: 'bob', members: ['carl'] },
        'Book club',
      )
      if (sentence === undefined) quiet.push(code)
      else expectSaidEverywhere(sentence, code)
    }
    expect(quiet).toEqual(['not-a-member'])
  })

  it('warns of a forged or swapped key, naming the friend, and keeps connection trouble that heals itself quiet', () => {
    const shown: PeerErrorCode[] = []
    for (const code of eventCodes.peer) {
      const sentence = peerErrorSentence({ peer: 'bob', code, message: rawDetail })
      if (sentence === undefined) continue
      shown.push(code)
      expectSaidEverywhere(sentence, code, ['bob'])
    }
    expect(shown.sort()).toEqual(
      [
        // Someone forged, swapped or replayed what vouches for the friend.
        'untrusted-key',
        'bad-signature',
        'wrong-recipient',
        'replay',
        'fingerprint-mismatch',
        'low-order-key',
        // A clock too far off: retrying never helps.
        'stale',
        // The friend's app changed a message that was not theirs.
        'not-author',
        'wrong-conversation',
        'not-editable',
      ].sort(),
    )
    // What the issue saw in red: a connection torn down under a step, frames of a closed channel.
    for (const code of ['bad-state', 'bad-format', 'decrypt-failed', 'duplicate'] as const)
      expect(peerErrorSentence({ peer: 'bob', code, message: rawDetail }), code).toBeUndefined()
  })

  it('has no sentence for an exception that is not the client’s: the plain one is shown instead, in both languages', () => {
    for (const e of [
      new TypeError(rawDetail),
      new Error('cannot send after peer is destroyed'),
      'text',
      null,
    ])
      expect(errorSentence(e)).toBeUndefined()
    expectSaidEverywhere(unexpectedSentence, 'unexpected')
  })

  it('has every error class in client/ extend TincanError, and every exported one in the table', () => {
    const root = resolve(import.meta.dirname, '../../../client')
    const files = (readdirSync(root, { recursive: true }) as string[])
      .filter((f) => /\.(ts|svelte)$/.test(f) && !f.includes('node_modules'))
      .map((f) => join(root, f))
    const exported: string[] = []
    const declaration = /(export\s+)?(?:abstract\s+)?class\s+(\w+)(?:<[^{]*?>)?\s+extends\s+(\w+)/g
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(declaration)) {
        const [, isExported, name, base] = m
        if (name === 'TincanError' || !(base === 'Error' || base?.endsWith('Error'))) continue
        expect(base, `${name} in ${file}`).toBe('TincanError')
        if (isExported !== undefined && name !== undefined) exported.push(name)
      }
    }
    expect(exported.sort()).toEqual(
      errorRows
        .map((r) => r.name)
        .filter((n) => n !== 'CryptoError')
        .sort(),
    )
  })

  it('tells a class’s errors apart from others by `is`, with or without a code', () => {
    const e = new GroupError('not-admin', rawDetail, { cause: rawDetail })
    expect(GroupError.is(e)).toBe(true)
    expect(GroupError.is(e, 'not-admin')).toBe(true)
    expect(GroupError.is(e, 'not-member')).toBe(false)
    expect(TincanError.is(e)).toBe(true)
    expect(DataError.is(e)).toBe(false)
    expect(TincanError.is(new CryptoError('bad-state', rawDetail))).toBe(false)
    expect(e).toMatchObject({ name: 'GroupError', code: 'not-admin', cause: rawDetail })
  })
})

describe('a warning about a friend', () => {
  it('is let through once a while, not at every attempt to reconnect', () => {
    let now = 0
    const gate = new OnceAWhile(10 * 60_000, () => now)
    const seen = [0, 5_000, 20_000, 9 * 60_000].map((at) => {
      now = at
      return gate.due('bob\nerr.peer.forgedSignal')
    })
    expect(seen).toEqual([true, false, false, false])
    expect(gate.due('carol\nerr.peer.forgedSignal')).toBe(true)
    expect(gate.due('bob\nerr.peer.swappedKeys')).toBe(true)
    now = 10 * 60_000
    expect(gate.due('bob\nerr.peer.forgedSignal')).toBe(true)
  })
})
