import type { Message } from '../../../core/index.ts'
import { dayLabel, sameDay } from './format.ts'

/** One message as a list shows it. `pending`: a file still being prepared here, not a message yet. */
export interface MessageRow {
  readonly message: Message
  readonly mine: boolean
  readonly groupStart: boolean
  readonly pending: boolean
}

export type Row =
  { kind: 'day'; key: string; label: string } | ({ kind: 'message'; key: string } & MessageRow)

/** Messages closer than this from the same author sit together. */
const groupGapMs = 5 * 60 * 1000

/**
 * The rows of a message list — a day separator before each day's first message, and each message
 * with whether it starts a run of one author's — made anew each time the messages change. A row
 * whose message and place did not change is the same object as last time, so the list leaves its
 * bubble alone: before, every new message or receipt re-rendered every bubble shown (issue 17).
 */
export class MessageRows {
  private previous = new Map<string, Row>()

  rows(messages: readonly Message[], me: string): Row[] {
    const out: Row[] = []
    const byKey = new Map<string, Row>()
    const keep = (row: Row): void => {
      out.push(row)
      byKey.set(row.key, row)
    }
    let prev: Message | undefined
    for (const m of messages) {
      const newDay = prev === undefined || !sameDay(prev.sentAt, m.sentAt)
      if (newDay) {
        const key = `day-${m.sentAt}-${m.id}`
        const label = dayLabel(m.sentAt)
        const old = this.previous.get(key)
        keep(old?.kind === 'day' && old.label === label ? old : { kind: 'day', key, label })
      }
      const groupStart =
        prev === undefined ||
        newDay ||
        prev.author !== m.author ||
        prev.type === 'timer' ||
        m.sentAt - prev.sentAt > groupGapMs
      const mine = m.author === me
      const old = this.previous.get(m.id)
      keep(
        old?.kind === 'message' && old.message === m && old.mine === mine && old.groupStart === groupStart
          ? old
          : { kind: 'message', key: m.id, message: m, mine, groupStart, pending: false },
      )
      prev = m
    }
    this.previous = byKey
    return out
  }
}
