import { shownFileName, type MessageContent } from '../../../core/index.ts'
import { t } from './i18n/i18n.svelte.ts'

/**
 * A message as one line outside its conversation (a notification): a file says it is one, with
 * its name; an image says it is a photo. The same for one-to-one chats and groups.
 */
export function messagePreview(content: MessageContent): string {
  const file = content.file
  if (file === undefined) return content.text
  return file.kind === 'image'
    ? t('file.previewImage')
    : t('file.previewFile', { name: shownFileName(file.name).full })
}
