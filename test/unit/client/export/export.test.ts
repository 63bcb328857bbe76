import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { beforeAll, describe, expect, it } from 'vitest'
import { DataError } from '../../../../client/core/export/errors.ts'
import { exportCsp, exportHtml } from '../../../../client/core/export/export-html.ts'
import { exportJson } from '../../../../client/core/export/export-json.ts'
import { attachmentPath, iso, safeFileName } from '../../../../client/core/export/export-model.ts'
import { TincanExport } from '../../../../client/core/export/export-schema.ts'
import { exportArchive, exportAttachmentsZip } from '../../../../client/core/export/export-zip.ts'
import { directConversationId } from '../../../../client/core/store/history.ts'
import { initCrypto, randomBytes } from '../../../../crypto/index.ts'
import { repoRoot } from '../../../helpers/server.ts'
import { addMessage, freshDevice, storeFile, tinyPng, type Device, type StoredFile } from './fixtures.ts'
import { readZip } from './zip.ts'

const hostile = [
  '<script>alert(1)</script>',
  '<img src=x onerror="alert(2)">',
  '"><svg onload=alert(3)>',
  "' onmouseover='alert(4)",
  'evil\u202Egnp.exe and \u2066isolated\u2069 & more',
  '<a href="https://evil.example/">click</a> <link rel=stylesheet href=//evil.example/x.css>',
  '<style>body{background:url(https://evil.example/track)}</style>',
]

let device: Device
let photo: StoredFile
let bigPhoto: StoredFile
let report: StoredFile
const now = Date.UTC(2025, 0, 15, 12, 0)

beforeAll(async () => {
  await initCrypto()
  device = await freshDevice('alice')
  await addMessage(device, 'bob', 'bob', { text: 'hi alice 👋🏽 ça va? 北京' })
  const replyTarget = await addMessage(device, 'bob', 'alice', { text: 'fine, and you?\nsecond line' })
  await addMessage(device, 'bob', 'bob', {
    text: 'great',
    replyTo: { id: replyTarget.id, author: 'alice', excerpt: 'fine, and you?' },
    reactions: [
      { author: 'alice', emoji: '❤️', at: now - 5000 },
      { author: 'bob', emoji: '', at: now - 4000 },
    ],
    editedAt: now - 3000,
  })
  for (const text of hostile) await addMessage(device, 'bob', 'bob', { text })
  await addMessage(device, 'bob', 'alice', { text: '', deleted: true, deletedAt: now - 2000 })
  await addMessage(device, 'bob', 'alice', { text: '', timerSeconds: 3600 }, { type: 'timer' })
  await addMessage(device, 'bob', 'bob', { text: 'gone already' }, { expiresAt: now - 1 })
  await addMessage(device, 'bob', 'bob', { text: 'still here' }, { expiresAt: now + 60_000 })
  photo = await storeFile(device, {
    peer: 'bob',
    name: '<b>photo</b>.png',
    mime: 'image/png',
    bytes: tinyPng,
  })
  await addMessage(device, 'bob', 'bob', { text: photo.content.name, file: photo.content })
  bigPhoto = await storeFile(device, {
    peer: 'bob',
    name: 'big.png',
    mime: 'image/png',
    bytes: randomBytes(40_000),
    thumbnail: 'iVBORw0KGgo',
  })
  await addMessage(device, 'bob', 'bob', { text: 'big.png', file: bigPhoto.content })
  report = await storeFile(device, {
    peer: 'bob',
    name: '../../etc/report\u202Efdp.exe',
    mime: 'application/pdf',
    bytes: randomBytes(5000),
    direction: 'out',
  })
  await addMessage(device, 'bob', 'alice', { text: report.content.name, file: report.content })
  const declined = await storeFile(device, {
    peer: 'bob',
    name: 'declined.zip',
    mime: 'application/zip',
    bytes: randomBytes(3000),
    state: 'declined',
  })
  await device.files.deleteChunks(declined.fileId)
  await addMessage(device, 'bob', 'bob', { text: 'declined.zip', file: declined.content })
  await addMessage(device, 'carol', 'carol', { text: 'hello from carol' })
})

async function jsonOf(blob: Blob): Promise<TincanExport> {
  return JSON.parse(await blob.text()) as TincanExport
}

describe('times', () => {
  it('are written exactly as toISOString writes them', () => {
    const samples = [0, 1, 951_782_400_000, 951_868_799_999, 4_107_542_400_000, 253_402_300_799_999, -1, NaN]
    for (let i = 0; i < 20_000; i++) samples.push(Math.floor(Math.random() * 253_402_300_800_000))
    for (const ms of samples.filter(Number.isFinite)) expect(iso(ms)).toBe(new Date(ms).toISOString())
  })
})

describe('JSON export', () => {
  it('validates against its schema, and the schema file in docs/ is this schema', async () => {
    const doc = await jsonOf(await exportJson(device, { now }))
    const errors = [...Value.Errors(TincanExport, doc)].map((e) => `${e.path}: ${e.message}`)
    expect(errors).toEqual([])
    // WRITE_EXPORT_SCHEMA=1 rewrites the file after a change to the schema (then run Prettier on it).
    const path = join(repoRoot, 'docs/export.schema.json')
    if (process.env['WRITE_EXPORT_SCHEMA'] === '1')
      writeFileSync(path, JSON.stringify(TincanExport, null, 2) + '\n')
    const onDisk = JSON.parse(readFileSync(path, 'utf8')) as unknown
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(TincanExport)))
  })

  it('has an example in docs/EXPORT.md that validates too', () => {
    const doc = readFileSync(join(repoRoot, 'docs/EXPORT.md'), 'utf8')
    const example = /```json\n([\s\S]*?)\n```/.exec(doc)?.[1]
    expect(example).toBeDefined()
    const parsed = JSON.parse(example ?? '') as unknown
    expect([...Value.Errors(TincanExport, parsed)].map((e) => `${e.path}: ${e.message}`)).toEqual([])
  })

  it('holds every conversation with its messages, oldest first, and leaves out expired ones', async () => {
    const doc = await jsonOf(await exportJson(device, { now }))
    expect(doc.format).toBe('tincan-export')
    expect(doc.version).toBe(1)
    expect(doc.exportedAt).toBe(new Date(now).toISOString())
    expect(doc.account.username).toBe('alice')
    expect(doc.conversations.map((c) => c.id).sort()).toEqual([
      directConversationId('bob'),
      directConversationId('carol'),
    ])
    const bob = doc.conversations.find((c) => c.peer === 'bob')
    const texts = bob?.messages.map((m) => m.text) ?? []
    expect(bob?.messageCount).toBe(bob?.messages.length)
    expect(texts[0]).toBe('hi alice 👋🏽 ça va? 北京')
    expect(texts).toContain(hostile[0])
    expect(texts).toContain('still here')
    expect(texts).not.toContain('gone already')
    const sent = bob?.messages.map((m) => Date.parse(m.sentAt)) ?? []
    expect(sent).toEqual([...sent].sort((a, b) => a - b))
  })

  it('carries replies, reactions, edits, deletions and file metadata with the path inside the ZIP', async () => {
    const doc = await jsonOf(await exportJson(device, { now }))
    const messages = doc.conversations.flatMap((c) => c.messages)
    const great = messages.find((m) => m.text === 'great')
    expect(great?.replyTo).toMatchObject({ author: 'alice', excerpt: 'fine, and you?' })
    // A removed reaction (empty emoji) is not exported.
    expect(great?.reactions).toEqual([
      { author: 'alice', emoji: '❤️', at: new Date(now - 5000).toISOString() },
    ])
    expect(great?.editedAt).toBe(new Date(now - 3000).toISOString())
    expect(messages.find((m) => m.deleted === true)?.deletedAt).toBe(new Date(now - 2000).toISOString())
    expect(messages.find((m) => m.type === 'timer')?.timerSeconds).toBe(3600)
    const file = messages.find((m) => m.file?.fileId === photo.fileId)?.file
    expect(file).toEqual({
      fileId: photo.fileId,
      kind: 'image',
      name: '<b>photo</b>.png',
      mime: 'image/png',
      size: tinyPng.length,
      hash: photo.hash,
      path: attachmentPath(photo.fileId, '<b>photo</b>.png'),
    })
    const declined = messages.find((m) => m.text === 'declined.zip')?.file
    expect(declined?.path).toBeNull()
    expect(declined?.hash).not.toBeNull()
  })

  it('exports one conversation on its own, and refuses an unknown one', async () => {
    const doc = await jsonOf(await exportJson(device, { now, conversationId: directConversationId('carol') }))
    expect(doc.conversations.map((c) => c.messages.map((m) => m.text))).toEqual([['hello from carol']])
    await expect(exportJson(device, { conversationId: 'direct:nobody' })).rejects.toSatisfy((e) =>
      DataError.is(e, 'not-found'),
    )
  })
})

/** Every tag in the document (escaped text has no raw '<'), with its attributes. */
function tags(html: string): { name: string; attrs: string }[] {
  return [...html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>/g)].map((m) => ({
    name: (m[1] ?? '').toLowerCase(),
    attrs: m[2] ?? '',
  }))
}

describe('HTML export', () => {
  let html: string
  beforeAll(async () => {
    html = await (
      await exportHtml(device, { now, timeZone: 'UTC', locale: 'en-GB', maxImageBytes: 10_000 })
    ).text()
  })

  it('declares a policy that allows no script and no network, and uses only plain markup', () => {
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${exportCsp}">`)
    const allowed = new Set(
      'html head meta title style body header h1 h2 p bdi nav ul ol li a section time blockquote i figure img figcaption small div span'.split(
        ' ',
      ),
    )
    const used = new Set(tags(html).map((t) => t.name))
    expect([...used].filter((t) => !allowed.has(t))).toEqual([])
    for (const t of tags(html)) expect(t.attrs).not.toMatch(/\son[a-z]+\s*=/i)
  })

  it('escapes hostile text so it shows as text', () => {
    expect(html).not.toContain('<script')
    expect(html).not.toMatch(/<img src=x/)
    expect(html).not.toContain('<svg')
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(2)&quot;&gt;')
    expect(html).toContain('&#39; onmouseover=&#39;alert(4)')
    expect(html).toContain('&lt;b&gt;photo&lt;/b&gt;.png')
  })

  it('keeps direction overrides inside the message they came in', () => {
    const i = html.indexOf('evil\u202Egnp.exe')
    expect(i).toBeGreaterThan(0)
    const tag = '<p class="text" dir="auto">'
    const open = html.lastIndexOf(tag, i)
    const close = html.indexOf('</p>', i)
    expect(open).toBeGreaterThan(0)
    expect(html.slice(open + tag.length, close)).not.toContain('<')
    // Isolated by the style as well: the override cannot reorder the author or the time.
    expect(html).toMatch(/\.text[^{]*\{[^}]*unicode-bidi: isolate/)
  })

  it('references nothing outside the file', () => {
    for (const t of tags(html)) {
      const src = /\s(?:src|href)="([^"]*)"/.exec(t.attrs)?.[1]
      if (src === undefined) continue
      expect(src.startsWith('data:image/') || src.startsWith('#') || src.startsWith('attachments/')).toBe(
        true,
      )
    }
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//)
    // One style element, ours, loading nothing.
    const styles = [...html.matchAll(/<style>([^<]*)<\/style>/g)]
    expect(styles).toHaveLength(1)
    expect(styles[0]?.[1]).not.toMatch(/url\(|@import/)
  })

  it('embeds small images, shows the thumbnail of large ones with a link to the ZIP', () => {
    const b64 = Buffer.from(tinyPng).toString('base64')
    expect(html).toContain(`<img src="data:image/png;base64,${b64}" alt="&lt;b&gt;photo&lt;/b&gt;.png">`)
    expect(html).toContain('<img src="data:image/png;base64,iVBORw0KGgo=" alt="big.png">')
    expect(html).toContain(`href="${attachmentPath(bigPhoto.fileId, 'big.png')}"`)
  })

  it('shows authors, times, emoji as text, replies, reactions, deletions and the timer line', () => {
    expect(html).toContain('hi alice 👋🏽 ça va? 北京')
    expect(html).toMatch(
      /<bdi class="author">bob<\/bdi> <time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z">\d+ \w{3} \d{4}, \d\d:\d\d<\/time>/,
    )
    expect(html).toContain('<li title="alice">❤️</li>')
    expect(html).toContain('This message was deleted.')
    expect(html).toContain('disappearing messages set to 1 hour')
    expect(html).toMatch(
      /<blockquote><a href="#m-[^"]+"><bdi>alice<\/bdi><\/a>: <bdi>fine, and you\?<\/bdi><\/blockquote>/,
    )
    expect(html).not.toContain('gone already')
  })
})

describe('attachments ZIP', () => {
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

  it('holds each file on this device at the path the JSON names, and nothing else', async () => {
    const doc = await jsonOf(await exportJson(device, { now }))
    const paths = doc.conversations.flatMap((c) =>
      c.messages.flatMap((m) => (m.file?.path == null ? [] : [m.file])),
    )
    const listing = await readZip(await exportAttachmentsZip(device, { now }))
    expect(listing.bad).toBeNull()
    expect(listing.unzipOk).not.toBe(false)
    expect(listing.entries.map((e) => e.name).sort()).toEqual(paths.map((f) => f.path).sort())
    const byPath = new Map(listing.entries.map((e) => [e.name, e]))
    for (const f of [photo, bigPhoto, report]) {
      const entry = byPath.get(attachmentPath(f.fileId, f.content.name))
      expect(entry?.sha256).toBe(sha(f.bytes))
    }
  })

  it('names files safely: no path escapes and no direction overrides', () => {
    expect(attachmentPath('abc', '../../etc/report\u202Efdp.exe')).toBe(
      'attachments/abc/.._.._etc_report_fdp.exe',
    )
    expect(safeFileName('..')).toBe('file')
    expect(safeFileName('a'.repeat(300) + '.jpeg')).toMatch(/^a{95}\.jpeg$/)
  })

  it('puts JSON, HTML and attachments in one archive', async () => {
    const listing = await readZip(await exportArchive(device, { now }))
    expect(listing.bad).toBeNull()
    const names = listing.entries.map((e) => e.name)
    expect(names.slice(0, 2)).toEqual(['tincan-export.json', 'tincan-export.html'])
    expect(names).toContain(attachmentPath(report.fileId, report.content.name))
  })
})
