import type { FileStore } from '../files/file-store.ts'
import type { GroupBackupSource } from '../groups/group-backup.ts'
import type { Db } from '../store/db.ts'
import type { History } from '../store/history.ts'
import { createBackup, type BackupSource, type CreateBackupOptions } from './backup-create.ts'
import {
  restoreBackup,
  type RestoreOptions,
  type RestoreSummary,
  type RestoreTarget,
} from './backup-restore.ts'
import { exportHtml, type HtmlExportOptions } from './export-html.ts'
import { exportJson } from './export-json.ts'
import type { ExportOptions, ExportSource } from './export-model.ts'
import { exportArchive, exportAttachmentsZip } from './export-zip.ts'

export interface AccountDataOptions {
  readonly username: string
  readonly db: Db
  readonly history: History
  readonly files: FileStore
  /** Group names by id, from the signed member lists (titles of group conversations). */
  readonly groupNames: () => ReadonlyMap<string, string>
  /** The group layer: groups go into a backup and come back from one through it. */
  readonly groups?: GroupBackupSource
  /** Called after a restore wrote something, so caches and the UI catch up. */
  readonly restored: (summary: RestoreSummary) => Promise<void>
}

/**
 * The account's data taken out and brought back, all on this device (no server call): readable
 * exports (JSON, HTML, attachments ZIP), an encrypted backup, and its restore.
 */
export class AccountData {
  /** Restores run one after another: two at once would each count the other's records as theirs. */
  private restoring: Promise<unknown> = Promise.resolve()

  constructor(private readonly o: AccountDataOptions) {}

  private source(): ExportSource & BackupSource & RestoreTarget {
    return {
      username: this.o.username,
      db: this.o.db,
      history: this.o.history,
      files: this.o.files,
      groupNames: this.o.groupNames(),
      ...(this.o.groups === undefined ? {} : { groups: this.o.groups }),
    }
  }

  /** JSON (schema: docs/EXPORT.md) of one conversation or all. @throws DataError 'not-found'. */
  exportJson(opts: ExportOptions = {}): Promise<Blob> {
    return exportJson(this.source(), opts)
  }

  /** One self-contained HTML file (no network, no script). @throws DataError 'not-found'. */
  exportHtml(opts: HtmlExportOptions = {}): Promise<Blob> {
    return exportHtml(this.source(), opts)
  }

  /** The attachments on this device, at the paths the JSON and HTML name. @throws DataError 'not-found'. */
  exportAttachmentsZip(opts: ExportOptions = {}): Promise<Blob> {
    return exportAttachmentsZip(this.source(), opts)
  }

  /** JSON, HTML and attachments in one ZIP. @throws DataError 'not-found'. */
  exportArchive(opts: HtmlExportOptions = {}): Promise<Blob> {
    return exportArchive(this.source(), opts)
  }

  /** The encrypted backup file. @throws DataError 'weak-passphrase'. */
  async createBackup(passphrase: string, opts: CreateBackupOptions = {}): Promise<Blob> {
    return (await createBackup(this.source(), passphrase, opts)).blob
  }

  /** Restores a backup of this account; see backup-restore.ts for what merges how. */
  restoreBackup(backup: Blob, passphrase: string, opts: RestoreOptions = {}): Promise<RestoreSummary> {
    const run = this.restoring.then(async () => {
      const summary = await restoreBackup(this.source(), backup, passphrase, opts)
      await this.o.restored(summary)
      return summary
    })
    this.restoring = run.catch(() => undefined)
    return run
  }
}
