// Issue 14, F7: a file name with a right-to-left override showed "invoice\u202Efdp.exe" as
// "invoiceexe.pdf". Names are shown with every bidi control neutralised and the real extension
// apart, in one function (client/core/files/file-name.ts) that every place showing a name uses.
import { beforeAll, describe, expect, it } from 'vitest'
import { exportHtml } from '../../../client/core/export/export-html.ts'
import { cleanName } from '../../../client/core/files/describe.ts'
import { neutraliseBidi, shownFileName } from '../../../client/core/files/file-name.ts'
import { quoteFor } from '../../../client/core/quotes.ts'
import { directConversationId } from '../../../client/core/store/history.ts'
import { initCrypto } from '../../../crypto/index.ts'
import { addMessage, freshDevice, storeFile } from './export/fixtures.ts'

beforeAll(async () => {
  await initCrypto()
})

const disguised = 'invoice\u202Efdp.exe'
/** Every character that can turn text around: embeddings, overrides, isolates and marks. */
const bidiControls = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/

describe('file names as the app shows them', () => {
  it('shows a right-to-left override as U+FFFD, so the real extension stays last: invoice\uFFFDfdp.exe', () => {
    expect(shownFileName(disguised)).toEqual({
      full: 'invoice\uFFFDfdp.exe',
      stem: 'invoice\uFFFDfdp',
      extension: '.exe',
    })
  })

  it('neutralises every embedding, override, isolate and mark, and leaves other text alone', () => {
    const all = '\u202Aa\u202Bb\u202Cc\u202Dd\u202Ee\u2066f\u2067g\u2068h\u2069i\u200Ej\u200Fk\u061Cl'
    const shown = neutraliseBidi(all)
    expect(shown).not.toMatch(bidiControls)
    expect(shown).toBe('\uFFFDa\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\uFFFDg\uFFFDh\uFFFDi\uFFFDj\uFFFDk\uFFFDl')
    // Same length: search matches found in the stored text still point at the right characters.
    expect(shown.length).toBe(all.length)
    for (const plain of ['报告 2025.pdf', 'שלום.txt', 'تقرير.docx', 'a\u200Bzero-width.txt', 'emoji 📎.zip'])
      expect(neutraliseBidi(plain)).toBe(plain)
  })

  it('keeps apart only a real extension: letters and digits after the last dot, not the whole name', () => {
    expect(shownFileName('archive.tar.gz')).toMatchObject({ stem: 'archive.tar', extension: '.gz' })
    expect(shownFileName('报告.文档')).toMatchObject({ stem: '报告', extension: '.文档' })
    expect(shownFileName('.bashrc')).toMatchObject({ stem: '.bashrc', extension: '' })
    expect(shownFileName('no extension')).toMatchObject({ stem: 'no extension', extension: '' })
    expect(shownFileName('ends with a dot.')).toMatchObject({ stem: 'ends with a dot.', extension: '' })
    expect(shownFileName('report.final version')).toMatchObject({
      stem: 'report.final version',
      extension: '',
    })
    // An override hidden in the extension is neutralised too, so it is no extension at all.
    expect(shownFileName('photo.\u202Egpj')).toEqual({
      full: 'photo.\uFFFDgpj',
      stem: 'photo.\uFFFDgpj',
      extension: '',
    })
  })

  it('stores a received or sent file name with its bidi controls neutralised', () => {
    expect(cleanName(disguised)).toBe('invoice\uFFFDfdp.exe')
    expect(cleanName('\u2067evil\u2069.pdf')).toBe('\uFFFDevil\uFFFD.pdf')
  })

  it('neutralises the name in the chat list preview, in a quote of the file, and in the HTML export', async () => {
    const device = await freshDevice('alice')
    const file = await storeFile(device, {
      peer: 'mallory',
      name: disguised,
      mime: 'application/pdf',
      bytes: new Uint8Array([1, 2, 3]),
    })
    const message = await addMessage(device, 'mallory', 'mallory', { text: disguised, file: file.content })
    const [conversation] = await device.history.conversations()
    expect(conversation?.preview).toBe('📎 invoice\uFFFDfdp.exe')
    const quote = await quoteFor(device.history, directConversationId('mallory'), message.id)
    expect(quote.excerpt).toBe('invoice\uFFFDfdp.exe')
    const html = await (await exportHtml(device, { timeZone: 'UTC', locale: 'en-GB' })).text()
    expect(html).toContain('invoice\uFFFDfdp</bdi><bdi>.exe</bdi>')
    expect(html).not.toMatch(bidiControls)
  })
})
