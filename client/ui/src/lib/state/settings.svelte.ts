import { readSetting, writeSetting } from '../storage.ts'

export const themes = ['system', 'light', 'dark'] as const
export type Theme = (typeof themes)[number]

function isTheme(v: string | null): v is Theme {
  return v !== null && (themes as readonly string[]).includes(v)
}

/** Preferences kept on this device: theme and read receipts (the language lives in i18n). */
class Settings {
  theme = $state<Theme>('system')
  readReceipts = $state(true)

  constructor() {
    const theme = readSetting('theme')
    this.theme = isTheme(theme) ? theme : 'system'
    this.readReceipts = readSetting('read-receipts') !== 'off'
    this.applyTheme()
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

  private applyTheme(): void {
    if (typeof document === 'undefined') return
    const root = document.documentElement
    if (this.theme === 'system') delete root.dataset.theme
    else root.dataset.theme = this.theme
  }
}

export const settings = new Settings()
