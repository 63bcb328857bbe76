import { directConversationId, groupConversationId } from '../../../../core/index.ts'
import { conversationState } from './conversation.svelte.ts'
import { safetyState } from './safety.svelte.ts'

export type Route =
  | { readonly kind: 'home' }
  | { readonly kind: 'chat'; readonly peer: string }
  | { readonly kind: 'group'; readonly groupId: string }
  | { readonly kind: 'safety'; readonly peer: string }
  | { readonly kind: 'friends' }
  | { readonly kind: 'settings' }

/**
 * What the main pane shows. On a phone only one pane is visible: the list on `home`, the
 * main pane otherwise, with a back button.
 */
class Navigation {
  route = $state.raw<Route>({ kind: 'home' })

  /** Opens a chat; with `focus` (a message id), scrolled to that message and highlighting it. */
  openChat(peer: string, focus?: string): void {
    this.route = { kind: 'chat', peer }
    void conversationState.open(directConversationId(peer), focus)
  }

  /**
   * Opens a group's conversation (its pane closes it again when it goes); with `focus` (a message
   * id), scrolled to that message and highlighting it.
   */
  openGroup(groupId: string, focus?: string): void {
    this.route = { kind: 'group', groupId }
    void conversationState.open(groupConversationId(groupId), focus)
  }

  openSafety(peer: string): void {
    this.route = { kind: 'safety', peer }
    void safetyState.load(peer)
  }

  openFriends(): void {
    this.leaveChat()
    this.route = { kind: 'friends' }
  }

  openSettings(): void {
    this.leaveChat()
    this.route = { kind: 'settings' }
  }

  /** Back from a pane: a safety number returns to its chat, everything else to the list. */
  back(): void {
    const r = this.route
    if (r.kind === 'safety') {
      this.openChat(r.peer)
      return
    }
    this.home()
  }

  home(): void {
    this.leaveChat()
    this.route = { kind: 'home' }
  }

  /** The friend is gone (removed or blocked): leave anything about them. */
  forget(peer: string): void {
    const r = this.route
    if ((r.kind === 'chat' || r.kind === 'safety') && r.peer === peer) this.home()
  }

  private leaveChat(): void {
    conversationState.close()
  }
}

export const nav = new Navigation()
