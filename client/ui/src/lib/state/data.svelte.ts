import { peerOfConversation, type TincanClient, type RestoreSummary } from '../../../../core/index.ts'
import { downloadBlob } from '../download.ts'
import { errorText } from '../errors.ts'
import { i18n } from '../i18n/i18n.svelte.ts'
import { conversationState } from './conversation.svelte.ts'
import { toasts } from './toasts.svelte.ts'

export type ExportFormat = 'json' | 'html' | 'zip'
export type DataTask = ExportFormat | 'backup' | 'restore'

/** "2025-03-09" in the user's time zone, for file names. */
function today(): string {
  const d = new Date()
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

/** Letters, digits, dot, dash and underscore only: usernames are already, this keeps it so. */
function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_')
}

/** Lets the page paint ("Encrypting…") before Argon2id holds the thread for a moment. */
function nextFrame(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)))
}

/**
 * Export, backup and restore as the settings pane runs them. Everything happens on this device
 * (no server call), so it works offline. A failed restore changes nothing (the core takes back
 * what it wrote), and says why.
 */
class DataState {
  busy = $state<DataTask | undefined>()
  restoreSummary = $state.raw<RestoreSummary | undefined>()
  restoreError = $state<string | undefined>()
  backupError = $state<string | undefined>()

  private client: TincanClient | undefined

  attach(client: TincanClient): void {
    this.client = client
  }

  detach(): void {
    this.client = undefined
    this.busy = undefined
    this.clearRestore()
    this.backupError = undefined
  }

  clearRestore(): void {
    this.restoreSummary = undefined
    this.restoreError = undefined
  }

  /** Downloads one conversation (`conversationId`) or all of them as JSON, HTML or an attachments ZIP. */
  async export(format: ExportFormat, conversationId?: string): Promise<void> {
    const client = this.client
    if (client === undefined || this.busy !== undefined) return
    this.busy = format
    try {
      const opts = conversationId === undefined ? {} : { conversationId }
      const scope =
        conversationId === undefined ? 'all' : safe(peerOfConversation(conversationId) ?? 'conversation')
      const base = `tincan-${safe(client.username)}-${scope}-${today()}`
      switch (format) {
        case 'json':
          downloadBlob(await client.exportJson(opts), `${base}.json`)
          break
        case 'html':
          downloadBlob(await client.exportHtml({ ...opts, locale: i18n.locale }), `${base}.html`)
          break
        case 'zip':
          downloadBlob(await client.exportAttachmentsZip(opts), `${base}-attachments.zip`)
          break
        default: {
          const unreachable: never = format
          throw new Error(`unknown export format ${String(unreachable)}`)
        }
      }
    } catch (e: unknown) {
      toasts.error(errorText(e))
    } finally {
      this.busy = undefined
    }
  }

  /** Makes the encrypted backup and downloads it; false (with `backupError`) if it could not be made. */
  async createBackup(passphrase: string): Promise<boolean> {
    const client = this.client
    if (client === undefined || this.busy !== undefined) return false
    this.busy = 'backup'
    this.backupError = undefined
    try {
      await nextFrame()
      const blob = await client.createBackup(passphrase)
      downloadBlob(blob, `tincan-${safe(client.username)}-${today()}.tincan-backup`)
      return true
    } catch (e: unknown) {
      this.backupError = errorText(e)
      return false
    } finally {
      this.busy = undefined
    }
  }

  /** Restores a backup file into this device; the summary or the error is kept for the pane to show. */
  async restore(file: Blob, passphrase: string): Promise<boolean> {
    const client = this.client
    if (client === undefined || this.busy !== undefined) return false
    this.busy = 'restore'
    this.clearRestore()
    try {
      await nextFrame()
      this.restoreSummary = await client.restoreBackup(file, passphrase)
      await conversationState.list.reload()
      return true
    } catch (e: unknown) {
      this.restoreError = errorText(e)
      return false
    } finally {
      this.busy = undefined
    }
  }
}

export const dataState = new DataState()
