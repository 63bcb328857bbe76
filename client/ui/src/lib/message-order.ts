import type { Message } from '../../../core/index.ts'

/** Time order as the history stores it: sent time, then id. */
export function byTime(a: Message, b: Message): number {
  return a.sentAt - b.sentAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** Adds or replaces messages by id, keeping time order. */
export function mergeMessages(list: readonly Message[], incoming: readonly Message[]): Message[] {
  const byId = new Map(list.map((m) => [m.id, m]))
  for (const m of incoming) byId.set(m.id, m)
  return [...byId.values()].sort(byTime)
}
