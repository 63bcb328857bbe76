import { readSetting, writeSetting } from '../storage.ts'
import type { MessageKey } from './en.ts'
import { locales, translate, type Locale, type Params, type Sentence } from './translate.ts'

export { locales, type Locale, type Sentence }

/** Names shown in the language picker, each in its own language. */
export const localeNames: Record<Locale, string> = { en: 'English', 'zh-CN': '简体中文' }

function isLocale(v: string | null): v is Locale {
  return v !== null && (locales as readonly string[]).includes(v)
}

function fromBrowser(): Locale {
  const langs = typeof navigator === 'undefined' ? [] : [...(navigator.languages ?? []), navigator.language]
  for (const l of langs) {
    const lower = l.toLowerCase()
    if (lower.startsWith('zh')) return 'zh-CN'
    if (lower.startsWith('en')) return 'en'
  }
  return 'en'
}

/** The interface language: from the saved choice, else the browser's, else English. */
class I18n {
  locale = $state<Locale>('en')

  constructor() {
    const saved = readSetting('locale')
    this.locale = isLocale(saved) ? saved : fromBrowser()
    this.apply()
  }

  set(locale: Locale): void {
    this.locale = locale
    writeSetting('locale', locale)
    this.apply()
  }

  private apply(): void {
    if (typeof document !== 'undefined') document.documentElement.lang = this.locale
  }

  /** Reads `locale`, so templates that call it update when the language changes. */
  t = (key: MessageKey, params?: Params): string => translate(this.locale, key, params)

  /** A sentence (an error's, say) in the interface language. */
  say = (sentence: Sentence): string => this.t(sentence.key, sentence.params)
}

export const i18n = new I18n()
export const t = i18n.t
export const say = i18n.say
