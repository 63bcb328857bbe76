/** Events kept for a listener that is not there yet, per event, at most this many. */
const maxHeld = 100

/** A small typed event emitter that runs in the browser and in Node. */
export class Emitter<Events extends Record<string, unknown>> {
  readonly #handlers = new Map<keyof Events, Set<(value: never) => void>>()
  #held: Map<keyof Events, Events[keyof Events][]> | undefined

  on<K extends keyof Events>(event: K, handler: (value: Events[K]) => void): () => void {
    let set = this.#handlers.get(event)
    if (set === undefined) {
      set = new Set()
      this.#handlers.set(event, set)
    }
    set.add(handler)
    const waiting = this.#held?.get(event)
    if (waiting !== undefined && waiting.length > 0) {
      const values = waiting.splice(0) as Events[K][]
      queueMicrotask(() => {
        for (const value of values) call(handler, value)
      })
    }
    return () => set.delete(handler)
  }

  /**
   * These events, when nobody listens yet, are kept and handed to the first listener that comes:
   * a warning raised while starting up must reach the screen that attaches afterwards.
   */
  protected holdUntilHeard(events: readonly (keyof Events)[]): void {
    this.#held = new Map(events.map((e) => [e, []]))
  }

  protected emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const handlers = this.#handlers.get(event)
    if (handlers === undefined || handlers.size === 0) {
      const waiting = this.#held?.get(event)
      if (waiting !== undefined && waiting.length < maxHeld) waiting.push(value)
      return
    }
    for (const handler of [...handlers]) call(handler, value)
  }
}

function call<V>(handler: (value: never) => void, value: V): void {
  try {
    ;(handler as (value: V) => void)(value)
  } catch (e: unknown) {
    // One failing listener must not stop the others or the connection that emits.
    console.error('event handler failed', e)
  }
}
