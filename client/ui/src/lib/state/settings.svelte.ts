import { readSetting, writeSetting } from '../storage.ts'

export const themes = ['system', 'light', 'dark'] as const
export type Theme = (typeof themes)[number]

function isTheme(v: string | null): v is Theme {
  return v !== null && (themes as readonly string[]).includes(v)
}

/** Images from friends up to this many MB are accepted without asking, unless the user set otherwise. */
export const defaultAutoAcceptImagesMb = 10
/** The largest limit the setting takes (the core takes any). */
export const maxAutoAcceptImagesMb = 1024

/** A whole number of MB from 0 (always ask) to the maximum; anything else is the default. */
export function autoAcceptImagesMbFrom(v: string | number | null): number {
  const n = typeof v === 'number' ? v : v === null || v.trim() === '' ? NaN : Number(v)
  if (!Number.isFinite(n) || n < 0) return defaultAutoAcceptImagesMb
  return Math.min(maxAutoAcceptImagesMb, Math.floor(n))
}

/**
 * Preferences kept on this device: theme, read receipts, typing indicators and the size under
 * which images are accepted without asking (the language lives in i18n).
 */
class Settings {
  theme = $state<Theme>('system')
  readReceipts = $state(true)
  typingIndicators = $state(true)
  /** 0: ask for every image. */
  autoAcceptImagesMb = $state(defaultAutoAcceptImagesMb)

  constructor() {
    const theme = readSetting('theme')
    this.theme = isTheme(theme) ? theme : 'system'
    this.readReceipts = readSetting('read-receipts') !== 'off'
    this.typingIndicators = readSetting('typing-indicators') !== 'off'
    this.autoAcceptImagesMb = autoAcceptImagesMbFrom(readSetting('auto-accept-images-mb'))
    this.applyTheme()
  }

  get autoAcceptImagesBytes(): number {
    return this.autoAcceptImagesMb * 1024 * 1024
  }

  setAutoAcceptImagesMb(mb: number): void {
    this.autoAcceptImagesMb = autoAcceptImagesMbFrom(mb)
    writeSetting('auto-accept-images-mb', String(this.autoAcceptImagesMb))
  }

  setTheme(theme: Theme): void {
    this.theme = theme
    writeSetting('theme', theme)
    this.applyTheme()
  }

  setReadReceipts(on: boolean): void {
    this.readReceipts = on
    writeSetting('read-receipts', on ? 'on' : 'off')
  }

  setTypingIndicators(on: boolean): void {
    this.typingIndicators = on
    writeSetting('typing-indicators', on ? 'on' : 'off')
  }

  private applyTheme(): void {
    if (typeof document === 'undefined') return
    const root = document.documentElement
    if (this.theme === 'system') delete root.dataset.theme
    else root.dataset.theme = this.theme
  }
}

export const settings = new Settings()
