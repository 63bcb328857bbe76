import { groupOfConversation, type TincanClient } from '../../../../core/index.ts'
import { t } from '../i18n/i18n.svelte.ts'
import { messagePreview } from '../message-preview.ts'
import { readSetting, writeSetting } from '../storage.ts'
import { groupsState, isolate } from './groups.svelte.ts'
import { nav } from './navigation.svelte.ts'
import { toasts } from './toasts.svelte.ts'

export type NotificationAccess = NotificationPermission | 'unsupported'

const previewChars = 120

function currentAccess(): NotificationAccess {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission
}

/**
 * System notifications while the tab is hidden (once the user allowed them), and in-app toasts
 * for friend requests. The title badge is derived from unread counts elsewhere.
 */
class Notifier {
  access = $state<NotificationAccess>(currentAccess())
  promptDismissed = $state(readSetting('notify-prompt') === 'dismissed')
  private off: (() => void)[] = []

  /** Whether to offer the one-time "enable notifications" banner. */
  get shouldPrompt(): boolean {
    return this.access === 'default' && !this.promptDismissed
  }

  async request(): Promise<void> {
    if (typeof Notification === 'undefined') return
    try {
      this.access = await Notification.requestPermission()
    } catch {
      this.access = currentAccess()
    }
    this.dismissPrompt()
  }

  dismissPrompt(): void {
    this.promptDismissed = true
    writeSetting('notify-prompt', 'dismissed')
  }

  attach(client: TincanClient): void {
    this.access = currentAccess()
    this.off = [
      client.on('message', (m) => {
        if (m.author === client.username || m.state !== 'received') return
        // A timer change is a line in the chat, not a message to be told about.
        if (m.type === 'timer') return
        // While the page is visible, the chat list and its unread counts say it.
        if (document.visibilityState === 'visible') return
        const groupId = groupOfConversation(m.conversationId)
        if (groupId !== undefined) {
          const group = groupsState.group(groupId)?.name ?? ''
          this.system(
            t('notify.groupMessage', { name: m.author, group: isolate(group) }),
            messagePreview(m.content).slice(0, previewChars),
            m.conversationId,
            () => nav.openGroup(groupId),
          )
          return
        }
        this.system(
          t('notify.newMessage', { name: m.author }),
          messagePreview(m.content).slice(0, previewChars),
          m.conversationId,
          () => nav.openChat(m.author),
        )
      }),
      client.on('friend-request', (r) => {
        toasts.info(t('friends.requestFrom', { name: r.username }))
        if (document.visibilityState !== 'visible')
          this.system(t('notify.friendRequest', { name: r.username }), r.note, `request:${r.username}`, () =>
            nav.openFriends(),
          )
      }),
    ]
  }

  detach(): void {
    for (const off of this.off) off()
    this.off = []
  }

  private system(title: string, body: string, tag: string, onClick: () => void): void {
    if (currentAccess() !== 'granted') return
    try {
      const n = new Notification(title, { body, tag, icon: '/favicon.svg' })
      n.onclick = () => {
        window.focus()
        onClick()
        n.close()
      }
    } catch (e: unknown) {
      // Some platforms only allow notifications from a service worker.
      console.warn('notification failed', e)
    }
  }
}

export const notifier = new Notifier()
