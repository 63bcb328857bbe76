import type { FileErrorCode } from '../../../core/index.ts'
import { errorSentence, fileErrorSentence, unexpectedSentence } from './error-texts.ts'
import { say } from './i18n/i18n.svelte.ts'

/**
 * A sentence for the user about why something failed, in their language (the table is
 * error-texts.ts). A failure nobody foresaw gets a plain sentence; its details go to the console.
 */
export function errorText(e: unknown): string {
  const sentence = errorSentence(e)
  if (sentence !== undefined) return say(sentence)
  console.error('unexpected failure', e)
  return say(unexpectedSentence)
}

/** Why a transfer failed, in the user's language. */
export function fileErrorText(code: FileErrorCode, peer: string): string {
  return say(fileErrorSentence(code, peer))
}
