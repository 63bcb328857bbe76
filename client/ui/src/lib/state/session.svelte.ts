import { initCrypto, TincanClient, type ConnectionState } from '../../../../core/index.ts'
import { browserEnv } from '../env.ts'
import { errorText } from '../errors.ts'
import { t } from '../i18n/i18n.svelte.ts'
import { conversationState } from './conversation.svelte.ts'
import { dataState } from './data.svelte.ts'
import { filesState } from './files.svelte.ts'
import { friendsState } from './friends.svelte.ts'
import { groupsState } from './groups.svelte.ts'
import { nav } from './navigation.svelte.ts'
import { notifier } from './notifications.svelte.ts'
import { safetyState } from './safety.svelte.ts'
import { searchState } from './search.svelte.ts'
import { settings } from './settings.svelte.ts'
import { toasts } from './toasts.svelte.ts'

export type SessionStatus = 'booting' | 'signed-out' | 'signed-in'
export type AuthMode = 'login' | 'register'

/**
 * The signed-in account. The only module that holds the TincanClient (and so the server
 * socket and the peers); the other state modules get it from here while signed in.
 */
class Session {
  status = $state<SessionStatus>('booting')
  /** Set when the app could not start (libsodium failed to load, storage unavailable). */
  bootError = $state<string | undefined>()
  /** A sign-in or registration is running. */
  busy = $state(false)
  /** Argon2id is running in its worker (drives the progress bar). */
  deriving = $state(false)
  username = $state('')
  connection = $state<ConnectionState>('offline')

  private client: TincanClient | undefined
  private off: (() => void)[] = []
  private readonly env = browserEnv((running) => (this.deriving = running))

  /** Loads libsodium, then resumes the session remembered on this device, if any. */
  async boot(): Promise<void> {
    try {
      await initCrypto()
    } catch (e: unknown) {
      this.bootError = errorText(e)
      return
    }
    try {
      const client = await TincanClient.restore(this.env)
      if (client !== undefined) {
        this.start(client)
        return
      }
    } catch (e: unknown) {
      console.warn('the remembered session could not be restored', e)
    }
    this.status = 'signed-out'
  }

  /** Signs in or creates the account; resolves to an error sentence, or undefined on success. */
  async authenticate(mode: AuthMode, username: string, password: string): Promise<string | undefined> {
    if (this.busy) return undefined
    this.busy = true
    try {
      const client =
        mode === 'register'
          ? await TincanClient.register(this.env, username, password)
          : await TincanClient.login(this.env, username, password)
      this.start(client)
      return undefined
    } catch (e: unknown) {
      return errorText(e)
    } finally {
      this.busy = false
    }
  }

  async logout(): Promise<void> {
    const client = this.client
    this.stop()
    try {
      await client?.logout()
    } catch (e: unknown) {
      console.warn('logging out did not finish cleanly', e)
    }
  }

  setReadReceipts(on: boolean): void {
    settings.setReadReceipts(on)
    this.client?.setReadReceipts(on)
  }

  /** Off: the user's typing is not sent, and friends' typing is not shown. */
  setTypingIndicators(on: boolean): void {
    settings.setTypingIndicators(on)
    this.client?.setTypingIndicators(on)
    if (!on) {
      conversationState.clearTyping()
    }
  }

  setAutoAcceptImagesMb(mb: number): void {
    settings.setAutoAcceptImagesMb(mb)
    this.client?.setAutoAcceptImagesUnderBytes(settings.autoAcceptImagesBytes)
  }

  private start(client: TincanClient): void {
    this.client = client
    this.username = client.username
    this.connection = client.connectionState
    client.setReadReceipts(settings.readReceipts)
    client.setTypingIndicators(settings.typingIndicators)
    client.setAutoAcceptImagesUnderBytes(settings.autoAcceptImagesBytes)
    this.off = [
      client.on('connection', (state) => (this.connection = state)),
      client.on('session-ended', () => void this.sessionEnded()),
      client.on('friends', (friends) => {
        // A friend removed or blocked elsewhere: close their chat.
        const r = nav.route
        if ((r.kind === 'chat' || r.kind === 'safety') && !friends.some((f) => f.username === r.peer))
          nav.forget(r.peer)
      }),
    ]
    friendsState.attach(client)
    conversationState.attach(client)
    groupsState.attach(client)
    filesState.attach(client)
    safetyState.attach(client)
    searchState.attach(client)
    dataState.attach(client)
    notifier.attach(client)
    this.status = 'signed-in'
  }

  private stop(): void {
    for (const off of this.off) off()
    this.off = []
    nav.home()
    notifier.detach()
    dataState.detach()
    searchState.detach()
    safetyState.detach()
    conversationState.detach()
    groupsState.detach()
    filesState.detach()
    friendsState.detach()
    toasts.clear()
    this.client = undefined
    this.username = ''
    this.connection = 'offline'
    this.status = 'signed-out'
  }

  private async sessionEnded(): Promise<void> {
    await this.logout()
    toasts.error(t('err.sessionEnded'))
  }
}

export const session = new Session()
