// How a file name from someone else is shown: pure, so the UI, the notifications, the search
// results and the HTML export all show the same thing.

/**
 * Characters that change the direction of the text around them: embeddings and overrides
 * (U+202A–U+202E), isolates (U+2066–U+2069) and the marks LRM, RLM and ALM. In a file name they
 * disguise the extension: "invoice\u202Efdp.exe" shows as "invoiceexe.pdf".
 */
const bidiControls = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** U+FFFD, as Signal shows these characters in file names: the name visibly had something there. */
const replacement = '\ufffd'

/** The longest extension shown apart (".numbers", ".torrent" fit; "file.this is not one" does not). */
const maxExtensionLength = 16

/**
 * `text` with every bidi control replaced by U+FFFD, so it shows in the order it is written.
 * Each control is one UTF-16 unit, as is U+FFFD: positions in the text stay where they were.
 */
export function neutraliseBidi(text: string): string {
  return text.replace(bidiControls, replacement)
}

/** A file name as the app shows it. */
export interface ShownFileName {
  /** The whole name, bidi controls neutralised. */
  readonly full: string
  /** What comes before the extension (the whole name when it has none). */
  readonly stem: string
  /** The real extension with its dot (".exe"), or '' when there is none. */
  readonly extension: string
}

/**
 * The name with bidi controls neutralised and its real extension (after the last dot, letters
 * and digits only) apart, so the UI can show the extension on its own, left to right, after a
 * stem isolated from it: whatever the stem's script, it cannot move the extension.
 */
export function shownFileName(name: string): ShownFileName {
  const full = neutraliseBidi(name)
  const dot = full.lastIndexOf('.')
  const extension = dot > 0 ? full.slice(dot) : ''
  if (
    extension.length < 2 ||
    extension.length > maxExtensionLength + 1 ||
    !/^\.[\p{L}\p{N}]+$/u.test(extension)
  )
    return { full, stem: full, extension: '' }
  return { full, stem: full.slice(0, dot), extension }
}
