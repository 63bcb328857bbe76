/** A small typed event emitter that runs in the browser and in Node. */
export class Emitter<Events extends Record<string, unknown>> {
  private readonly handlers = new Map<keyof Events, Set<(value: never) => void>>()

  on<K extends keyof Events>(event: K, handler: (value: Events[K]) => void): () => void {
    let set = this.handlers.get(event)
    if (set === undefined) {
      set = new Set()
      this.handlers.set(event, set)
    }
    set.add(handler)
    return () => set.delete(handler)
  }

  protected emit<K extends keyof Events>(event: K, value: Events[K]): void {
    for (const handler of [...(this.handlers.get(event) ?? [])]) {
      try {
        ;(handler as (value: Events[K]) => void)(value)
      } catch (e: unknown) {
        // One failing listener must not stop the others or the connection that emits.
        console.error('event handler failed', e)
      }
    }
  }
}
