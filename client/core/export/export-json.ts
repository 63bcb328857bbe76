import { BlobBuilder } from './blob-builder.ts'
import { exportEntries, exportHeads, iso, type ExportOptions, type ExportSource } from './export-model.ts'
import { exportFormat, exportVersion } from './export-schema.ts'

/**
 * The readable JSON export (schema: export-schema.ts, docs/EXPORT.md), written as it is read:
 * one message per line, so a large history never becomes one string in memory.
 */
export async function exportJson(source: ExportSource, opts: ExportOptions = {}): Promise<Blob> {
  const now = opts.now ?? Date.now()
  const heads = await exportHeads(source, opts)
  const out = new BlobBuilder()
  const top = {
    format: exportFormat,
    version: exportVersion,
    exportedAt: iso(now),
    account: { username: source.username },
  }
  out.add(`${JSON.stringify(top).slice(0, -1)},"conversations":[`)
  for (const [i, head] of heads.entries()) {
    out.add(`${i === 0 ? '' : ','}\n${JSON.stringify(head).slice(0, -1)},"messages":[`)
    let count = 0
    for await (const batch of exportEntries(source, head.id, now)) {
      let text = ''
      for (const e of batch) text += `${count++ === 0 ? '' : ','}\n${JSON.stringify(e.message)}`
      out.add(text)
    }
    out.add(`\n],"messageCount":${count}}`)
  }
  out.add('\n]}\n')
  return out.finish('application/json')
}
