import {
  groupConversationId,
  FileTransferError,
  shownFileName,
  directConversationId,
  type TincanClient,
  type FileErrorEvent,
  type FileProgress,
  type FileTransferView,
  type SendFileOptions,
  type Message,
} from '../../../../core/index.ts'
import { SvelteMap, SvelteSet } from 'svelte/reactivity'
import { downloadBlob } from '../download.ts'
import { errorText, fileErrorText } from '../errors.ts'
import { t } from '../i18n/i18n.svelte.ts'
import { isInlineImage, makeThumbnail } from '../thumbnail.ts'
import { toasts } from './toasts.svelte.ts'

const mib = 1024 * 1024
/** Full images up to this size are opened from storage as soon as they are there, to show inline. */
const inlineImageMaxBytes = 40 * mib

/** States in which bytes move (or are being prepared), so progress events matter. */
const movingStates: ReadonlySet<FileTransferView['state']> = new Set(['preparing', 'transferring'])

/** Where files go: a friend, or a group (whose members fetch them from whoever has them). */
export type FileTarget =
  { readonly kind: 'direct'; readonly peer: string } | { readonly kind: 'group'; readonly groupId: string }

/** The target's conversation, which is also what transfers to it name as their `peer`. */
function conversationOf(target: FileTarget): string {
  switch (target.kind) {
    case 'direct':
      return directConversationId(target.peer)
    case 'group':
      return groupConversationId(target.groupId)
    default: {
      const unreachable: never = target
      return unreachable
    }
  }
}

/** A transfer's `peer` for a target: the friend's name, or the group's conversation id. */
function transferPeerOf(target: FileTarget): string {
  return target.kind === 'direct' ? target.peer : conversationOf(target)
}

/** What the lightbox shows: a full image from storage (or its thumbnail while it opens). */
export interface LightboxItem {
  readonly fileId: string
  readonly name: string
  readonly thumbnail: string | undefined
}

/**
 * File transfers as the chat shows them: the latest view of each (by file id, which is also its
 * message's id), live progress, full images opened for showing inline, and the actions.
 */
class FilesState {
  readonly views = new SvelteMap<string, FileTransferView>()
  readonly progress = new SvelteMap<string, FileProgress>()
  /** Object URLs of full images opened from storage. */
  readonly images = new SvelteMap<string, string>()
  /** Files with an action in flight (accept, decline, cancel, save), so buttons can be disabled. */
  readonly pending = new SvelteSet<string>()
  /** Files sent from this page, with when: until its message exists, the chat shows one from here. */
  readonly sentHere = new SvelteMap<string, number>()
  lightbox = $state.raw<LightboxItem | undefined>()

  private client: TincanClient | undefined
  private off: (() => void)[] = []
  private loading = new Set<string>()
  private opening = new Set<string>()
  /** Bumped when images are released, so an open that was running then is not kept. */
  private imageGeneration = 0
  private sending: Promise<unknown> = Promise.resolve()

  attach(client: TincanClient): void {
    this.client = client
    this.off = [
      client.on('file', (v) => this.update(v)),
      client.on('file-progress', (p) => {
        const state = this.views.get(p.fileId)?.state
        if (state === undefined || movingStates.has(state)) this.progress.set(p.fileId, p)
      }),
      client.on('file-error', (e) => void this.reportError(client, e)),
      // A file message deleted (for me, for everyone, or disappeared) takes its file with it.
      client.on('message-removed', (r) => {
        if (r.fileId !== undefined) this.forget(r.fileId)
      }),
      client.on('message-updated', (m) => {
        if (m.content.deleted === true) this.forget(m.id)
      }),
    ]
  }

  /** Drops what is known of a file that is gone from this device (a file's id is its message's id). */
  private forget(fileId: string): void {
    const url = this.images.get(fileId)
    if (url !== undefined) URL.revokeObjectURL(url)
    this.images.delete(fileId)
    this.views.delete(fileId)
    this.progress.delete(fileId)
    this.sentHere.delete(fileId)
    if (this.lightbox?.fileId === fileId) this.lightbox = undefined
  }

  detach(): void {
    for (const off of this.off) off()
    this.off = []
    this.client = undefined
    this.releaseImages()
    this.views.clear()
    this.progress.clear()
    this.pending.clear()
    this.sentHere.clear()
    this.loading.clear()
  }

  /** Loads the transfer behind a file message once (after a reload, its state comes from storage). */
  ensure(fileId: string): void {
    const client = this.client
    if (client === undefined || this.views.has(fileId) || this.loading.has(fileId)) return
    this.loading.add(fileId)
    client
      .fileTransfer(fileId)
      .then((v) => {
        // An event that arrived meanwhile is newer than what was read.
        if (v !== undefined && this.client === client && !this.views.has(fileId)) this.views.set(fileId, v)
      })
      .catch((e: unknown) => console.warn('could not load a file transfer', e))
      .finally(() => this.loading.delete(fileId))
  }

  /**
   * Files sent to `target` from this page that have no message yet (being prepared, or failed
   * while preparing), oldest first, as the messages `author` will have once they are offered.
   */
  unsent(target: FileTarget, author: string, messageIds: ReadonlySet<string>): Message[] {
    const peer = transferPeerOf(target)
    const out: Message[] = []
    for (const [id, sentAt] of this.sentHere) {
      const view = this.views.get(id)
      if (view === undefined || view.peer !== peer || messageIds.has(id)) continue
      if (view.state === 'cancelled' || view.state === 'declined') continue
      out.push({
        id,
        conversationId: conversationOf(target),
        author,
        sentAt,
        receivedAt: sentAt,
        type: view.kind,
        state: view.state === 'failed' ? 'failed' : 'queued',
        content: {
          text: view.name,
          file: { fileId: id, kind: view.kind, name: view.name, size: view.size, mime: view.mime },
        },
      })
    }
    return out
  }

  /**
   * Sends files one after another, in the order given (several drops or picks queue up): images
   * get a thumbnail made here, and are sent without one if that fails.
   */
  send(target: FileTarget, files: readonly File[]): Promise<void> {
    const run = this.sending.then(() => this.sendNow(target, files))
    this.sending = run.catch(() => undefined)
    return run
  }

  private async sendNow(target: FileTarget, files: readonly File[]): Promise<void> {
    for (const file of files) {
      const client = this.client
      if (client === undefined) return
      const thumb = isInlineImage(file.type) ? await makeThumbnail(file) : undefined
      const conversationId =
        target.kind === 'direct' ? directConversationId(target.peer) : groupConversationId(target.groupId)
      const sendOne = (options: SendFileOptions) => client.sendFile(conversationId, file, options)
      try {
        let view: FileTransferView
        try {
          view = await sendOne(
            thumb === undefined
              ? {}
              : {
                  thumbnail: thumb.bytes,
                  thumbnailMime: thumb.mime,
                  width: thumb.width,
                  height: thumb.height,
                },
          )
        } catch (e: unknown) {
          if (!FileTransferError.is(e, 'bad-thumbnail')) throw e
          view = await sendOne({})
        }
        this.sentHere.set(view.fileId, Date.now())
        if (!this.views.has(view.fileId)) this.views.set(view.fileId, view)
      } catch (e: unknown) {
        toasts.error(t('file.sendFailed', { name: file.name, reason: errorText(e) }))
      }
    }
  }

  accept(fileId: string): Promise<void> {
    return this.act(fileId, (c) => c.acceptFile(fileId))
  }

  decline(fileId: string): Promise<void> {
    return this.act(fileId, (c) => c.declineFile(fileId))
  }

  cancel(fileId: string): Promise<void> {
    return this.act(fileId, (c) => c.cancelFile(fileId))
  }

  /** Saves the file to the user's downloads, from a Blob made of the stored chunks. */
  save(fileId: string): Promise<void> {
    return this.act(fileId, async (c) => {
      // Saved under the name as shown: a bidi control in it could disguise the extension in the
      // browser's downloads and in the user's file manager as well.
      const name = shownFileName(this.views.get(fileId)?.name ?? 'file').full
      downloadBlob(await c.openFile(fileId), name)
    })
  }

  /** Opens a full image from storage for showing, once (small ones only unless `always`). */
  loadImage(fileId: string, always = false): void {
    const client = this.client
    const v = this.views.get(fileId)
    if (client === undefined || v === undefined || !v.available || v.kind !== 'image') return
    if (this.images.has(fileId) || this.opening.has(fileId)) return
    if (!always && v.size > inlineImageMaxBytes) return
    const generation = this.imageGeneration
    this.opening.add(fileId)
    client
      .openFile(fileId)
      .then((blob) => {
        if (this.client === client && generation === this.imageGeneration)
          this.images.set(fileId, URL.createObjectURL(blob))
      })
      .catch((e: unknown) => console.warn('could not open an image', e))
      .finally(() => {
        if (generation === this.imageGeneration) this.opening.delete(fileId)
      })
  }

  openLightbox(item: LightboxItem): void {
    this.loadImage(item.fileId, true)
    this.lightbox = item
  }

  closeLightbox(): void {
    this.lightbox = undefined
  }

  /** Frees the full images (when the chat is left): they are opened again when shown. */
  releaseImages(): void {
    for (const url of this.images.values()) URL.revokeObjectURL(url)
    this.images.clear()
    this.opening.clear()
    this.imageGeneration++
    this.lightbox = undefined
  }

  private update(v: FileTransferView): void {
    this.views.set(v.fileId, v)
    if (!movingStates.has(v.state)) this.progress.delete(v.fileId)
    // A failed, declined or cancelled file is no longer available: drop its image.
    if (!v.available) {
      const url = this.images.get(v.fileId)
      if (url !== undefined) URL.revokeObjectURL(url)
      this.images.delete(v.fileId)
    }
  }

  /** A toast naming the file, which may belong to a chat that is not open. */
  private async reportError(client: TincanClient, e: FileErrorEvent): Promise<void> {
    const known = this.views.get(e.fileId)
    const view = known ?? (await client.fileTransfer(e.fileId).catch(() => undefined))
    toasts.error(
      t('file.failedToast', {
        name: shownFileName(view?.name ?? '').full,
        reason: fileErrorText(e.code, e.peer),
      }),
    )
  }

  private async act(fileId: string, action: (c: TincanClient) => Promise<void>): Promise<void> {
    const client = this.client
    if (client === undefined || this.pending.has(fileId)) return
    this.pending.add(fileId)
    try {
      await action(client)
    } catch (e: unknown) {
      toasts.error(errorText(e))
    } finally {
      this.pending.delete(fileId)
    }
  }
}

export const filesState = new FilesState()
