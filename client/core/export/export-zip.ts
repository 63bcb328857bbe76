import { readStoredFile } from '../files/read.ts'
import { exportHtml, type HtmlExportOptions } from './export-html.ts'
import { exportJson } from './export-json.ts'
import { exportEntries, exportHeads, type ExportOptions, type ExportSource } from './export-model.ts'
import { ZipWriter } from './zip-writer.ts'

const readBatchBytes = 4 * 1024 * 1024

/** Adds every attachment of the chosen conversations that is on this device, at its export path. */
async function addAttachments(zip: ZipWriter, source: ExportSource, opts: ExportOptions): Promise<number> {
  const now = opts.now ?? Date.now()
  const written = new Set<string>()
  for (const head of await exportHeads(source, opts)) {
    for await (const batch of exportEntries(source, head.id, now)) {
      for (const e of batch) {
        const path = e.message.file?.path
        if (path == null || e.file?.complete !== true || written.has(path)) continue
        written.add(path)
        const record = e.file.record
        const chunks = readStoredFile(
          source.files,
          record,
          source.files.meta(record),
          Math.max(1, Math.floor(readBatchBytes / record.chunkSize)),
        )
        await zip.add(path, chunks, Date.parse(e.message.sentAt))
      }
    }
  }
  return written.size
}

/**
 * The attachments as a ZIP (stored, not compressed), at the paths the JSON export names
 * (`attachments/<file id>/<name>`): extracted next to the HTML export, its links work.
 */
export async function exportAttachmentsZip(source: ExportSource, opts: ExportOptions = {}): Promise<Blob> {
  const zip = new ZipWriter()
  await addAttachments(zip, source, opts)
  return zip.finish()
}

/** Everything in one ZIP: `tincan-export.json`, `tincan-export.html` and `attachments/…`. */
export async function exportArchive(source: ExportSource, opts: HtmlExportOptions = {}): Promise<Blob> {
  const fixed = { ...opts, now: opts.now ?? Date.now() }
  const zip = new ZipWriter()
  await zip.add('tincan-export.json', await exportJson(source, fixed), fixed.now)
  await zip.add('tincan-export.html', await exportHtml(source, fixed), fixed.now)
  await addAttachments(zip, source, fixed)
  return zip.finish()
}
