import { i18n, t } from './i18n/i18n.svelte.ts'

const dayMs = 24 * 60 * 60 * 1000

const formats = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat>()

/**
 * One formatter per language and style, made once: making one costs far more than using it, and
 * a list re-rendering its messages made two for each of them (issue 17). Reads `i18n.locale`, so
 * what is derived from it follows a change of language.
 */
function dateFormat(style: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${i18n.locale}\ndate\n${style}`
  let f = formats.get(key)
  if (!(f instanceof Intl.DateTimeFormat)) {
    f = new Intl.DateTimeFormat(i18n.locale, options)
    formats.set(key, f)
  }
  return f
}

function numberFormat(maximumFractionDigits?: number): Intl.NumberFormat {
  const key = `${i18n.locale}\nnumber\n${maximumFractionDigits ?? ''}`
  let f = formats.get(key)
  if (!(f instanceof Intl.NumberFormat)) {
    f = new Intl.NumberFormat(
      i18n.locale,
      maximumFractionDigits === undefined ? {} : { maximumFractionDigits },
    )
    formats.set(key, f)
  }
  return f
}

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
  return dateFormat('time', { hour: 'numeric', minute: '2-digit' }).format(ts)
}

/** "Today", "Yesterday", a weekday within the week, else a full date. */
export function dayLabel(ts: number, now = Date.now()): string {
  const days = Math.round((startOfDay(now) - startOfDay(ts)) / dayMs)
  if (days === 0) return t('chat.today')
  if (days === 1) return t('chat.yesterday')
  if (days > 1 && days < 7) return dateFormat('weekday', { weekday: 'long' }).format(ts)
  const sameYear = new Date(ts).getFullYear() === new Date(now).getFullYear()
  return dateFormat(sameYear ? 'day' : 'day-year', {
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
  if (days < 7) return dateFormat('short-weekday', { weekday: 'short' }).format(ts)
  return dateFormat('short-date', { month: 'numeric', day: 'numeric' }).format(ts)
}

/** Full date and time, for tooltips. */
export function fullStamp(ts: number): string {
  return dateFormat('full', { dateStyle: 'full', timeStyle: 'short' }).format(ts)
}

/** "16,384": a whole number with the language's grouping. */
export function count(n: number): string {
  return numberFormat().format(n)
}

const sizeUnits = ['B', 'KB', 'MB', 'GB', 'TB'] as const

/** "820 KB", "12.4 MB": powers of 1024, as the file size limits in settings are. */
export function fileSize(bytes: number): string {
  let value = Math.max(0, bytes)
  let unit = 0
  while (value >= 1024 && unit < sizeUnits.length - 1) {
    value /= 1024
    unit++
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1
  const n = numberFormat(digits).format(value)
  return `${n} ${sizeUnits[unit]}`
}

/** "3.2 MB/s". */
export function transferSpeed(bytesPerSecond: number): string {
  return t('file.speed', { size: fileSize(bytesPerSecond) })
}

/** "45 s", "3 min", "1 h 20 min": a time left, rounded up. */
export function timeLeft(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds))
  if (s < 60) return t('time.seconds', { n: s })
  const minutes = Math.ceil(s / 60)
  if (minutes < 60) return t('time.minutes', { n: minutes })
  return t('time.hours', { h: Math.floor(minutes / 60), m: minutes % 60 })
}

/** "5 minutes", "1 hour", "1 week": a disappearing-message timer, in its largest whole unit. */
export function timerDuration(seconds: number): string {
  const units = [
    [7 * 24 * 3600, 'timer.week', 'timer.weeks'],
    [24 * 3600, 'timer.day', 'timer.days'],
    [3600, 'timer.hour', 'timer.hours'],
    [60, 'timer.minute', 'timer.minutes'],
  ] as const
  for (const [size, one, many] of units)
    if (seconds >= size && seconds % size === 0) {
      const n = seconds / size
      return n === 1 ? t(one) : t(many, { n })
    }
  return seconds === 1 ? t('timer.second') : t('timer.seconds', { n: seconds })
}
