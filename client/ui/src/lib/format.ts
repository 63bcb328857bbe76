import { i18n, t } from './i18n/i18n.svelte.ts'

const dayMs = 24 * 60 * 60 * 1000

export function startOfDay(ts: number): number {
  const d = new Date(ts)
  d.setHours(0, 0, 0, 0)
  return d.getTime()
}

export function sameDay(a: number, b: number): boolean {
  return startOfDay(a) === startOfDay(b)
}

/** "14:05" (or the locale's form). */
export function timeOfDay(ts: number): string {
  return new Intl.DateTimeFormat(i18n.locale, { hour: 'numeric', minute: '2-digit' }).format(ts)
}

/** "Today", "Yesterday", a weekday within the week, else a full date. */
export function dayLabel(ts: number, now = Date.now()): string {
  const days = Math.round((startOfDay(now) - startOfDay(ts)) / dayMs)
  if (days === 0) return t('chat.today')
  if (days === 1) return t('chat.yesterday')
  if (days > 1 && days < 7) return new Intl.DateTimeFormat(i18n.locale, { weekday: 'long' }).format(ts)
  const sameYear = new Date(ts).getFullYear() === new Date(now).getFullYear()
  return new Intl.DateTimeFormat(i18n.locale, {
    year: sameYear ? undefined : 'numeric',
    month: 'long',
    day: 'numeric',
    weekday: sameYear ? 'short' : undefined,
  }).format(ts)
}

/** For the chat list: a time today, else a short date. */
export function shortStamp(ts: number, now = Date.now()): string {
  if (sameDay(ts, now)) return timeOfDay(ts)
  const days = Math.round((startOfDay(now) - startOfDay(ts)) / dayMs)
  if (days < 7) return new Intl.DateTimeFormat(i18n.locale, { weekday: 'short' }).format(ts)
  return new Intl.DateTimeFormat(i18n.locale, { month: 'numeric', day: 'numeric' }).format(ts)
}

/** Full date and time, for tooltips. */
export function fullStamp(ts: number): string {
  return new Intl.DateTimeFormat(i18n.locale, { dateStyle: 'full', timeStyle: 'short' }).format(ts)
}
