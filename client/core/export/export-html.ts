import { toBase64Url } from '../../../crypto/index.ts'
import { shownFileName } from '../files/file-name.ts'
import { readStoredFile } from '../files/read.ts'
import { BlobBuilder } from './blob-builder.ts'
import {
  exportEntries,
  exportHeads,
  iso,
  type ConversationHead,
  type ExportEntry,
  type ExportOptions,
  type ExportSource,
} from './export-model.ts'
import type { ExportedMessage } from './export-schema.ts'
import { htmlStyle } from './export-html-style.ts'

export interface HtmlExportOptions extends ExportOptions {
  /** BCP 47 locale for dates and times; the runtime's by default. */
  readonly locale?: string
  /** IANA time zone for dates and times; the runtime's by default. */
  readonly timeZone?: string
  /** Images up to this size are embedded (as data: URIs); larger ones are linked to the ZIP. */
  readonly maxImageBytes?: number
  /** Once this many image bytes are embedded, further images are linked to the ZIP. */
  readonly maxEmbeddedBytes?: number
}

export const defaultMaxImageBytes = 5 * 1024 * 1024
export const defaultMaxEmbeddedBytes = 64 * 1024 * 1024

/**
 * The policy the file declares for itself: nothing may load from anywhere (no scripts, fonts,
 * frames or network), images only from data: URIs, styles only inline.
 */
export const exportCsp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

/** Types a browser shows in <img>. SVG is left out: it is a document, linked instead. */
const embeddableTypes = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
])

const entities: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

/** Escapes text for HTML content and for quoted attribute values alike. */
export function escapeHtml(text: string): string {
  return htmlSpecial.test(text) ? text.replace(/[&<>"']/g, (c) => entities[c] ?? c) : text
}

const htmlSpecial = /[&<>"']/

/** Standard base64 (data: URIs do not take base64url). */
function base64(bytes: Uint8Array): string {
  const url = toBase64Url(bytes).replace(/-/g, '+').replace(/_/g, '/')
  return url + '='.repeat((4 - (url.length % 4)) % 4)
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u] ?? 'TiB'}`
}

function formatTimer(seconds: number): string {
  if (seconds === 0) return 'off'
  const steps: [number, string][] = [
    [7 * 86400, 'week'],
    [86400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
  ]
  for (const [size, name] of steps)
    if (seconds % size === 0) return `${seconds / size} ${name}${seconds === size ? '' : 's'}`
  return `${seconds} seconds`
}

/**
 * A single HTML file that opens in any browser with no network: inline style, no script, images
 * embedded, every piece of text escaped and isolated (<bdi>, dir="auto") so neither markup nor
 * direction overrides in a message can reach outside it.
 */
export async function exportHtml(source: ExportSource, opts: HtmlExportOptions = {}): Promise<Blob> {
  const now = opts.now ?? Date.now()
  const heads = await exportHeads(source, opts)
  const w = new HtmlWriter(source, opts)
  const out = new BlobBuilder()
  const title = `Tincan chats of ${source.username}`
  out.add(
    `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
      `<meta http-equiv="Content-Security-Policy" content="${exportCsp}">\n` +
      `<meta name="referrer" content="no-referrer">\n` +
      `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
      `<title>${escapeHtml(title)}</title>\n<style>${htmlStyle}</style>\n</head>\n<body>\n` +
      `<header><h1>Tincan chats</h1><p>Account <bdi>${escapeHtml(source.username)}</bdi> · exported ` +
      `${w.time(now)}</p></header>\n`,
  )
  if (heads.length > 1)
    out.add(
      `<nav><h2>Conversations</h2><ul>${heads
        .map((h, i) => `<li><a href="#c${i}">${w.headTitle(h)}</a></li>`)
        .join('')}</ul></nav>\n`,
    )
  if (heads.length === 0) out.add('<p class="empty">No conversations.</p>\n')
  for (const [i, head] of heads.entries()) {
    out.add(`<section id="c${i}">\n<h2>${w.headTitle(head)}</h2>\n<ol class="messages">\n`)
    let count = 0
    for await (const batch of exportEntries(source, head.id, now)) {
      let html = ''
      for (const e of batch) {
        const part = w.message(e)
        html += typeof part === 'string' ? part : await part
        count++
      }
      out.add(html)
    }
    out.add(`</ol>\n<p class="count">${count} message${count === 1 ? '' : 's'}</p>\n</section>\n`)
  }
  out.add('</body>\n</html>\n')
  return out.finish('text/html;charset=utf-8')
}

class HtmlWriter {
  private readonly dateTime: Intl.DateTimeFormat
  private readonly dayFormat: Intl.DateTimeFormat
  private readonly maxImageBytes: number
  private readonly maxEmbeddedBytes: number
  private embeddedBytes = 0
  private lastDay = ''
  private lastMinute = NaN
  private lastFormatted = { time: '', day: '' }

  constructor(
    private readonly source: ExportSource,
    opts: HtmlExportOptions,
  ) {
    const zone = opts.timeZone === undefined ? {} : { timeZone: opts.timeZone }
    this.dateTime = new Intl.DateTimeFormat(opts.locale, { dateStyle: 'medium', timeStyle: 'short', ...zone })
    this.dayFormat = new Intl.DateTimeFormat(opts.locale, { dateStyle: 'full', ...zone })
    this.maxImageBytes = opts.maxImageBytes ?? defaultMaxImageBytes
    this.maxEmbeddedBytes = opts.maxEmbeddedBytes ?? defaultMaxEmbeddedBytes
  }

  time(ms: number): string {
    return `<time datetime="${iso(ms)}">${this.minute(ms).time}</time>`
  }

  /** Formatting is slow and shows minutes at most: one format per minute, not per message. Escaped. */
  private minute(ms: number): { time: string; day: string } {
    const key = Math.floor(ms / 60_000)
    if (key !== this.lastMinute) {
      this.lastMinute = key
      this.lastFormatted = {
        time: escapeHtml(this.dateTime.format(ms)),
        day: escapeHtml(this.dayFormat.format(ms)),
      }
    }
    return this.lastFormatted
  }

  headTitle(h: ConversationHead): string {
    const who = `<bdi>${escapeHtml(h.title)}</bdi>`
    const timer =
      h.timerSeconds > 0 ? ` <small>(disappearing after ${formatTimer(h.timerSeconds)})</small>` : ''
    return `${h.kind === 'group' ? 'Group ' : 'Chat with '}${who}${timer}`
  }

  /** A message's markup; synchronous unless it carries a file, whose bytes may be read. */
  message(e: ExportEntry): string | Promise<string> {
    const m = e.message
    if (m.file !== undefined && m.deleted !== true)
      return this.file(m, e).then((body) => this.render(e, body))
    return this.render(e, '')
  }

  private render(e: ExportEntry, fileHtml: string): string {
    const m = e.message
    const sentAt = Date.parse(m.sentAt)
    let html = ''
    const day = this.minute(sentAt).day
    if (day !== this.lastDay) {
      this.lastDay = day
      html += `<li class="day">${day}</li>\n`
    }
    const mine = m.author === this.source.username
    const id = escapeHtml(`m-${m.id}`)
    if (m.type === 'timer') {
      const what = m.timerSeconds === undefined ? 'changed' : `set to ${formatTimer(m.timerSeconds)}`
      return `${html}<li class="system" id="${id}"><bdi>${escapeHtml(m.author)}</bdi>: disappearing messages ${what} · ${this.time(sentAt)}</li>\n`
    }
    html += `<li class="msg ${mine ? 'out' : 'in'}" id="${id}">\n<div class="meta"><bdi class="author">${escapeHtml(m.author)}</bdi> ${this.time(sentAt)}</div>\n`
    if (m.replyTo?.missing === true) html += '<blockquote><i>original message not found</i></blockquote>\n'
    else if (m.replyTo !== undefined) {
      const q = m.replyTo
      const excerpt =
        q.deleted === true || q.excerpt === ''
          ? '<i>deleted message</i>'
          : `<bdi>${escapeHtml(q.excerpt)}</bdi>`
      html += `<blockquote><a href="#${escapeHtml(`m-${q.id}`)}"><bdi>${escapeHtml(q.author)}</bdi></a>: ${excerpt}</blockquote>\n`
    }
    if (m.deleted === true) html += '<p class="deleted">This message was deleted.</p>\n'
    else if (m.file !== undefined) html += fileHtml
    else html += `<p class="text" dir="auto">${escapeHtml(m.text)}</p>\n`
    if (m.reactions !== undefined && m.reactions.length > 0)
      html += `<ul class="reactions">${m.reactions
        .map((r) => `<li title="${escapeHtml(r.author)}">${escapeHtml(r.emoji)}</li>`)
        .join('')}</ul>\n`
    const notes: string[] = []
    if (m.editedAt !== undefined) notes.push('edited')
    if (mine) notes.push(m.state)
    if (m.expiresAt !== undefined)
      notes.push(`disappears ${escapeHtml(this.dateTime.format(Date.parse(m.expiresAt)))}`)
    if (notes.length > 0) html += `<div class="notes">${notes.join(' · ')}</div>\n`
    return `${html}</li>\n`
  }

  private async file(m: ExportedMessage, e: ExportEntry): Promise<string> {
    const f = m.file
    if (f === undefined) return ''
    // Bidi controls neutralised, the extension apart and left to right (file-name.ts).
    const shown = shownFileName(f.name)
    const name = `<span dir="ltr"><bdi>${escapeHtml(shown.stem)}</bdi><bdi>${escapeHtml(shown.extension)}</bdi></span>`
    const label =
      f.path === null
        ? `${name} <span class="missing">(not on this device)</span>`
        : `<a href="${escapeHtml(encodePath(f.path))}">${name}</a>`
    const caption = `${label} · ${formatBytes(f.size)}`
    if (f.kind === 'image') {
      const src = await this.imageSource(m, e)
      if (src !== undefined)
        return `<figure><img src="${escapeHtml(src)}" alt="${escapeHtml(shown.full)}"><figcaption>${caption}</figcaption></figure>\n`
    }
    return `<p class="file">📎 ${caption}</p>\n`
  }

  /** The image itself when it is here and small enough, else the sender's thumbnail, else nothing. */
  private async imageSource(m: ExportedMessage, e: ExportEntry): Promise<string | undefined> {
    const f = m.file
    if (f === undefined) return undefined
    const type = f.mime.toLowerCase()
    if (
      e.file?.complete === true &&
      embeddableTypes.has(type) &&
      f.size <= this.maxImageBytes &&
      this.embeddedBytes + f.size <= this.maxEmbeddedBytes
    ) {
      const record = e.file.record
      const meta = this.source.files.meta(record)
      const bytes = new Uint8Array(record.size)
      let at = 0
      const batch = Math.max(1, Math.floor((4 * 1024 * 1024) / record.chunkSize))
      for await (const chunk of readStoredFile(this.source.files, record, meta, batch)) {
        bytes.set(chunk, at)
        at += chunk.length
      }
      this.embeddedBytes += f.size
      return `data:${type};base64,${base64(bytes)}`
    }
    const t = e.thumbnail
    if (t === undefined || !embeddableTypes.has(t.mime) || !/^[A-Za-z0-9_-]*$/.test(t.data)) return undefined
    const std = t.data.replace(/-/g, '+').replace(/_/g, '/')
    return `data:${t.mime};base64,${std}${'='.repeat((4 - (std.length % 4)) % 4)}`
  }
}

/** A relative link to a ZIP path, each segment percent-encoded. */
function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}
