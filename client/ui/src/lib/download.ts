/** An object URL handed to a download is kept this long: the browser reads the Blob after the click. */
const downloadUrlLifetimeMs = 60_000

/** Starts a download of the Blob under `name` through an `<a download>`. */
export function downloadBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  a.rel = 'noopener'
  a.hidden = true
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), downloadUrlLifetimeMs)
}
