import type { AccountSession } from './account.ts'
import type { Api } from './api.ts'
import type { ClientEnv, ClientEvents } from './client-types.ts'
import { ConversationChanges } from './conversation-changes.ts'
import { ExpirySweeper } from './disappearing.ts'
import { FileStore } from './files/file-store.ts'
import { workerIncoming } from './files/receive-worker-client.ts'
import { FileTransfers } from './files/transfers.ts'
import { Friends } from './friends.ts'
import { groupConversationId, Groups } from './groups/groups.ts'
import { MessageActions } from './message-actions.ts'
import { Messenger } from './messenger.ts'
import { Outbox } from './outbox.ts'
import { PeerManager } from './peer/peer-manager.ts'
import { PeerRouter } from './peer-router.ts'
import { SignalingConnection } from './signaling.ts'
import { directConversationId, History } from './store/history.ts'
import { Trust } from './trust.ts'

/** The user's privacy switches; the UI keeps them and sets them at start. */
export interface ClientSettings {
  readReceipts: boolean
  typingIndicators: boolean
}

/** The parts of one signed-in client, made and wired once here; nothing outside reaches them. */
export interface ClientParts {
  readonly session: AccountSession
  readonly api: Api
  readonly settings: ClientSettings
  /** The one socket to the server. */
  readonly signaling: SignalingConnection
  readonly history: History
  readonly trust: Trust
  /** The one module that reaches friends directly (connections, handshakes, ratchets). */
  readonly peers: PeerManager
  readonly messenger: Messenger
  readonly groups: Groups
  readonly files: FileTransfers
  /** Reactions, edits and deletions. */
  readonly actions: MessageActions
  readonly friends: Friends
  readonly expiry: ExpirySweeper
  readonly router: PeerRouter
  /** Conversations to show anew (a message changed them): read and emitted one by one. */
  readonly conversations: ConversationChanges
  readonly receiveWorker: ReturnType<typeof workerIncoming> | undefined
}

/** Who the parts report to: the client's events, and failures of work they start by themselves. */
export interface PartsSink {
  readonly emit: <K extends keyof ClientEvents>(event: K, value: ClientEvents[K]) => void
  readonly background: (work: Promise<unknown>) => void
  readonly closed: () => boolean
}

/**
 * Builds the parts of a client in dependency order — each receives what it needs when it is
 * made — and connects their events (docs/ARCHITECTURE.md draws the result). The one exception to
 * "made with everything it needs": the group layer hands shared files and message changes to the
 * file and action parts, which post into groups and so are made after it; they are registered
 * with it right after (`groups.handleContent`).
 */
export function createParts(env: ClientEnv, session: AccountSession, api: Api, sink: PartsSink): ClientParts {
  const me = session.username
  const settings: ClientSettings = { readReceipts: true, typingIndicators: true }
  const signaling = new SignalingConnection({
    url: `${env.serverUrl.replace(/^http/, 'ws')}/ws`,
    token: () => api.token,
    createSocket: env.createSocket,
  })
  const history = new History(session.db, session.vaultKey)
  const trust = new Trust(session.db)
  const canSend = (peer: string): Promise<boolean> => trust.canSend(peer)
  const peers = new PeerManager({
    me,
    identity: session.identity,
    signaling,
    trust,
    db: session.db,
    vaultKey: session.vaultKey,
    iceConfig: () => api.ice(),
    env: env.peers,
  })
  const messenger = new Messenger({
    me,
    history,
    outbox: new Outbox(session.db),
    transport: peers,
    vaultKey: session.vaultKey,
    canSend,
    readReceipts: () => settings.readReceipts,
    typingIndicators: () => settings.typingIndicators,
  })
  const groups = new Groups({
    me,
    identity: session.identity,
    vaultKey: session.vaultKey,
    history,
    api,
    transport: {
      isOpen: (peer) => peers.isOpen(peer),
      authenticatedKey: (peer) => peers.authenticatedKey(peer),
      send: (peer, plaintext) => peers.send(peer, plaintext),
      connect: (peer) => peers.connect(peer),
      maxMessageBytes: (peer) => peers.fileLink(peer)?.maxMessageBytes ?? 16 * 1024,
    },
    online: () => signaling.online,
    contact: (username) => trust.contact(username),
    ...(env.groups?.maxLinks === undefined ? {} : { maxLinks: env.groups.maxLinks }),
    nextTimestamp: () => messenger.nextTimestamp(),
    readReceipts: () => settings.readReceipts,
    typingIndicators: () => settings.typingIndicators,
  })
  // Group members who are not friends are authenticated with the key their signed list gives.
  trust.setFallback((username) => groups.groupKey(username))
  const receiveWorker =
    env.receiveWorker === undefined ? undefined : workerIncoming(session.username, env.receiveWorker)
  const files = new FileTransfers({
    store: new FileStore(session.db, session.vaultKey),
    messenger,
    peers,
    canSend,
    ...(env.files === undefined ? {} : { tuning: env.files }),
    ...(receiveWorker === undefined ? {} : { openIncoming: receiveWorker }),
    groups: groups.fileRoutes(),
  })
  const actions = new MessageActions({
    me,
    history,
    messenger,
    canSend,
    files,
    groups: {
      canPost: (groupId) => groups.fileRoutes().canPost(groupId),
      postChange: (groupId, frame) => groups.postChange(groupId, frame),
    },
  })
  groups.handleContent({ files, actions })
  const expiry = new ExpirySweeper({
    history,
    onExpired: (out) => actions.removed(out),
    onError: (e: unknown) => console.error('deleting expired messages failed', e),
  })
  const friends = new Friends({ api, trust, signaling, peers, groups, background: sink.background })
  const router = new PeerRouter({ messenger, actions, files, groups })
  const conversations = new ConversationChanges({
    read: (id) => history.conversation(id),
    emit: (c) => sink.emit('conversation', c),
    background: sink.background,
    closed: sink.closed,
  })
  const parts: ClientParts = {
    session,
    api,
    settings,
    signaling,
    history,
    trust,
    peers,
    messenger,
    groups,
    files,
    actions,
    friends,
    expiry,
    router,
    conversations,
    receiveWorker,
  }
  wire(parts, sink)
  return parts
}

/** Reloads friends, requests and groups from the server (what it says of groups is checked against the signed lists). */
export async function refreshFromServer(p: ClientParts, sink: PartsSink): Promise<void> {
  await Promise.all([p.friends.refresh(), refreshGroups(p)])
  await emitConversations(p, sink)
}

async function refreshGroups(p: ClientParts): Promise<void> {
  await p.groups.serverGroups((await p.api.groups()).groups)
}

export async function emitConversations(p: ClientParts, sink: PartsSink): Promise<void> {
  sink.emit('conversations', await p.history.conversations())
}

/** Connects the parts' events to one another and to the client's events. */
function wire(p: ClientParts, sink: PartsSink): void {
  const { signaling: s, peers, messenger, groups, files, actions, friends, conversations } = p
  const { emit, background } = sink

  s.on('state', (state) => emit('connection', state))
  s.on('session-ended', () => emit('session-ended', undefined))
  s.on('ready', () => {
    background(refreshFromServer(p, sink).then(() => messenger.flushAll()))
    files.reconnect()
    groups.online()
  })
  s.on('presence', (f) => {
    friends.changed()
    if (f.online) {
      background(messenger.flush(f.username))
      files.reconnect(f.username)
    } else peers.peerWentOffline(f.username)
    groups.presence(f.username, f.online)
  })
  // What the server says of friends and keys is checked against what this device vouches for (trust.ts).
  s.on('friend-added', (f) => background(friends.added(f.friend).then(() => refreshFromServer(p, sink))))
  s.on('friend-removed', (f) => {
    peers.disconnect(f.username)
    background(refreshFromServer(p, sink))
  })
  s.on('group-updated', () => background(refreshGroups(p)))
  s.on('group-removed', (f) => {
    background(refreshGroups(p))
    groups.serverRemoved(f.groupId)
  })

  peers.on('message', ({ peer, plaintext, identityKey }) =>
    background(p.router.receive(peer, plaintext, identityKey)),
  )
  peers.on('open', ({ peer }) => {
    friends.changed()
    background(messenger.connectionOpened(peer))
    groups.linkOpened(peer)
  })
  peers.on('state', ({ peer, state }) => {
    friends.changed()
    if (state === 'idle') groups.linkClosed(peer)
  })
  peers.on('error', (e) => background(friends.refused(e)))

  friends.on('friends', (views) => emit('friends', views))
  friends.on('requests', (r) => emit('requests', r))
  friends.on('friend-request', (r) => emit('friend-request', r))
  friends.on('key-changed', (e) => emit('key-changed', e))
  friends.on('peer-error', (e) => emit('peer-error', e))

  messenger.on('message', (m) => {
    if (m.expiresAt !== undefined) p.expiry.schedule(m.expiresAt)
    emit('message', m)
    conversations.changed(m.conversationId)
  })
  messenger.on('typing', (t) =>
    emit('typing', { conversationId: directConversationId(t.peer), username: t.peer, typing: t.typing }),
  )
  actions.on('message-updated', (m) => {
    emit('message-updated', m)
    conversations.changed(m.conversationId)
  })
  actions.on('message-removed', (r) => {
    emit('message-removed', r)
    conversations.changed(r.conversationId)
  })
  actions.on('refused', (r) => emit('peer-error', r))
  files.on('file', (f) => emit('file', f))
  files.on('file-progress', (e) => emit('file-progress', e))
  files.on('file-error', (e) => emit('file-error', e))

  groups.on('groups', (views) => emit('groups', views))
  groups.on('message', (m) => {
    emit('message', m)
    conversations.changed(m.conversationId)
  })
  groups.on('group-removed', (r) => emit('group-removed', r))
  groups.on('group-error', (e) => emit('group-error', e))
  groups.on('group-typing', (e) =>
    emit('typing', {
      conversationId: groupConversationId(e.groupId),
      username: e.username,
      typing: e.typing,
    }),
  )
}
