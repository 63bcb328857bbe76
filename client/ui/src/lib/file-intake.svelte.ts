import type { Attachment } from 'svelte/attachments'
import { on } from 'svelte/events'
import { filesState, type FileTarget } from './state/files.svelte.ts'
import { toasts } from './state/toasts.svelte.ts'

export interface FileIntakeOptions {
  /** Where the files go; read when they are given, so it follows the open conversation. */
  readonly target: () => FileTarget
  /** Why files cannot be sent now (a friend's changed key, a group one is out of); undefined when they can. */
  readonly refusal: () => string | undefined
}

const carriesFiles = (e: DragEvent) => e.dataTransfer?.types.includes('Files') ?? false

/**
 * The files a user gives a conversation: dropped anywhere on it, pasted into its composer, or
 * picked with its attach button. A one-to-one chat and a group each make one for their pane.
 */
export class FileIntake {
  /** Files are being dragged over the conversation. */
  dragging = $state(false)
  /** Enter and leave fire for every child the drag crosses, so they are counted. */
  private dragDepth = 0

  constructor(private readonly options: FileIntakeOptions) {}

  get refusal(): string | undefined {
    return this.options.refusal()
  }

  /** Sends the files in order, or says why they cannot go. */
  give(files: readonly File[]): void {
    if (files.length === 0) return
    const refusal = this.options.refusal()
    if (refusal === undefined) void filesState.send(this.options.target(), files)
    else toasts.error(refusal)
  }

  /** Pasted images (or files) are sent; pasted text goes into the composer as usual. */
  readonly paste = (ev: ClipboardEvent): void => {
    const files = [...(ev.clipboardData?.files ?? [])]
    if (files.length === 0) return
    ev.preventDefault()
    this.give(files)
  }

  /**
   * For the conversation's element: files dropped on it are sent. A file dropped anywhere else on
   * the page must not make the browser leave the app to show it.
   */
  readonly zone: Attachment<HTMLElement> = (node) => {
    const keepPage = (e: DragEvent) => {
      if (carriesFiles(e)) e.preventDefault()
    }
    const offs = [
      on(node, 'dragenter', (e) => {
        if (!carriesFiles(e)) return
        e.preventDefault()
        this.dragDepth++
        this.dragging = true
      }),
      on(node, 'dragover', (e) => {
        if (!carriesFiles(e) || e.dataTransfer === null) return
        e.preventDefault()
        e.dataTransfer.dropEffect = this.refusal === undefined ? 'copy' : 'none'
      }),
      on(node, 'dragleave', (e) => {
        if (!carriesFiles(e)) return
        this.dragDepth = Math.max(0, this.dragDepth - 1)
        if (this.dragDepth === 0) this.dragging = false
      }),
      on(node, 'drop', (e) => {
        if (!carriesFiles(e)) return
        e.preventDefault()
        this.dragDepth = 0
        this.dragging = false
        this.give([...(e.dataTransfer?.files ?? [])])
      }),
      on(window, 'dragover', keepPage),
      on(window, 'drop', keepPage),
    ]
    return () => {
      for (const off of offs) off()
      this.dragDepth = 0
      this.dragging = false
    }
  }
}
