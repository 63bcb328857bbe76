import { SvelteMap } from 'svelte/reactivity'

/** Our "typing" ends after this long without a keystroke. */
const typingIdleMs = 3000
/** While the user keeps typing, "typing" is said again this often, so it does not go stale for the others. */
const typingRefreshMs = 5000
/** Someone's "typing" is forgotten after this long if their "stopped" (or a refresh) never arrives. */
const typingStaleMs = 8000

/**
 * The user's typing, in one conversation at a time (a friend's chat or a group): "typing" when
 * they start and every few seconds while they go on; "stopped" after a pause, when the composer
 * empties, on sending and when the conversation closes.
 */
export class OwnTyping<K extends string = string> {
  private current: { to: K; saidAt: number; idle: ReturnType<typeof setTimeout> } | undefined

  /** `tell` sends it (undefined when there is no one to tell); its failures are ignored. */
  constructor(private readonly tell: (to: K, typing: boolean) => Promise<void> | undefined) {}

  /** Called on each edit of the composer of `to` (a peer or a group). */
  edited(to: K, empty: boolean): void {
    if (empty) {
      this.stop()
      return
    }
    const going = this.current?.to === to ? this.current : undefined
    if (going === undefined) this.stop()
    else clearTimeout(going.idle)
    let saidAt = going?.saidAt ?? 0
    if (Date.now() - saidAt >= typingRefreshMs) {
      saidAt = Date.now()
      this.say(to, true)
    }
    this.current = { to, saidAt, idle: setTimeout(() => this.stop(), typingIdleMs) }
  }

  stop(): void {
    const current = this.current
    if (current === undefined) return
    clearTimeout(current.idle)
    this.current = undefined
    this.say(current.to, false)
  }

  private say(to: K, typing: boolean): void {
    this.tell(to, typing)?.catch(() => undefined)
  }
}

/** Who is typing in one conversation right now, in the order they started. */
export class Typists {
  /** Each name typing, with the timer that forgets it. */
  private readonly names = new SvelteMap<string, ReturnType<typeof setTimeout>>()

  has(name: string): boolean {
    return this.names.has(name)
  }

  get all(): string[] {
    return [...this.names.keys()]
  }

  set(name: string, typing: boolean): void {
    clearTimeout(this.names.get(name))
    if (typing)
      this.names.set(
        name,
        setTimeout(() => this.set(name, false), typingStaleMs),
      )
    else this.names.delete(name)
  }

  clear(): void {
    for (const timer of this.names.values()) clearTimeout(timer)
    this.names.clear()
  }
}
