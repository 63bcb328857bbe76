import { en, type MessageKey } from './en.ts'
import { zhCN } from './zh-cn.ts'

// The dictionaries and how a key becomes text, apart from the rune state that picks the
// language (i18n.svelte.ts): plain code, so tests can render any sentence in any language.

export const locales = ['en', 'zh-CN'] as const
export type Locale = (typeof locales)[number]

export type Params = Readonly<Record<string, string | number>>

/** Something to tell a person, before it is put in their language. */
export interface Sentence {
  readonly key: MessageKey
  readonly params?: Params
}

const dictionaries: Record<Locale, Record<MessageKey, string>> = { en, 'zh-CN': zhCN }

export function translate(locale: Locale, key: MessageKey, params?: Params): string {
  const text = dictionaries[locale][key]
  if (params === undefined) return text
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const v = params[name]
    return v === undefined ? whole : String(v)
  })
}
