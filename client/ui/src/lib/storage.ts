/** localStorage that never throws (private modes and full quotas just forget). */
export function readSetting(key: string): string | null {
  try {
    return localStorage.getItem(`tincan:${key}`)
  } catch {
    return null
  }
}

export function writeSetting(key: string, value: string): void {
  try {
    localStorage.setItem(`tincan:${key}`, value)
  } catch {
    // Not persisted: the setting still applies to this page.
  }
}
