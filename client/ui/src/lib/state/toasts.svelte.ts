export type ToastKind = 'info' | 'success' | 'error'

export interface Toast {
  readonly id: number
  readonly kind: ToastKind
  readonly text: string
}

const visibleMs: Record<ToastKind, number> = { info: 5000, success: 4000, error: 8000 }
const maxToasts = 4

/** Short in-app notices: friend requests, failures, connection problems. */
class Toasts {
  items = $state.raw<readonly Toast[]>([])
  private nextId = 1

  show(kind: ToastKind, text: string): void {
    // The same notice twice in a row (a peer retrying, say) is shown once.
    if (this.items.some((t) => t.text === text)) return
    const toast: Toast = { id: this.nextId++, kind, text }
    this.items = [...this.items, toast].slice(-maxToasts)
    setTimeout(() => this.dismiss(toast.id), visibleMs[kind])
  }

  info(text: string): void {
    this.show('info', text)
  }

  success(text: string): void {
    this.show('success', text)
  }

  error(text: string): void {
    this.show('error', text)
  }

  dismiss(id: number): void {
    this.items = this.items.filter((t) => t.id !== id)
  }

  clear(): void {
    this.items = []
  }
}

export const toasts = new Toasts()
