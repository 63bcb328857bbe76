import type { PendingRequest, PendingRequests } from '../../shared/index.ts'
import type { KdfRunner } from './account.ts'
import type { FriendView } from './friends.ts'
import type { FileErrorEvent, FileProgress, FileTransferView, FileTuning } from './files/types.ts'
import type { GroupErrorEvent, GroupView } from './groups/types.ts'
import type { PeerManagerEnv } from './peer/peer-manager.ts'
import type { PeerErrorEvent } from './peer-error.ts'
import type { ConnectionState, SocketLike } from './signaling.ts'
import type { Conversation, ConversationId, Message, RemovedMessage } from './store/history.ts'

/** What the client needs from where it runs: the server, the KDF, sockets, WebRTC, Workers. */
export interface ClientEnv {
  /** http(s) origin of the server, e.g. "http://localhost:8080" (the page's origin in the browser). */
  readonly serverUrl: string
  readonly kdf: KdfRunner
  readonly createSocket: (url: string) => SocketLike
  readonly peers: PeerManagerEnv
  readonly fetch?: typeof fetch
  /** File transfer knobs (tests, benchmarks); the defaults suit browsers. */
  readonly files?: Partial<FileTuning>
  /**
   * Browser: a Worker to decrypt, hash and store received files in (`createReceiveWorker` from
   * files/receive-worker-client.ts), so the page stays free for the UI. Without it (Node) that
   * work runs in the page.
   */
  readonly receiveWorker?: () => Worker
  /** Group chat knobs (tests, benchmarks): `maxLinks`, the group connections a device opens itself (default 8). */
  readonly groups?: { readonly maxLinks?: number }
}

export interface ClientEvents extends Record<string, unknown> {
  connection: ConnectionState
  friends: readonly FriendView[]
  requests: PendingRequests
  /** The user's groups as their signed member lists say (see GroupView), after any change. */
  groups: readonly GroupView[]
  /** Every conversation, the latest first: at start and after a restore, a friend added or removed, a block. */
  conversations: readonly Conversation[]
  /** One conversation changed (a message came, moved on or went, or it was read): the others did not. */
  conversation: Conversation
  /** A message was added, or its delivery state changed. */
  message: Message
  /** A stored message changed: edited, reacted to, deleted for everyone (a marker stays), or its quote cleared. */
  'message-updated': Message
  /** A message left this device: deleted for me, or its disappearing timer ran out. */
  'message-removed': RemovedMessage
  /** Someone is typing in a conversation, or stopped (a friend, or a connected group member). */
  typing: TypingEvent
  /** For notifications: a friend request arrived. */
  'friend-request': PendingRequest
  /** A friend's key changed: warn, and block sending until accepted (or the pinned key is kept). */
  'key-changed': { username: string }
  /**
   * A connection to a friend failed verification (forged or swapped keys or fingerprints), or a
   * friend tried to edit or delete a message that is not theirs (`not-author`,
   * `wrong-conversation`, `not-editable`; not applied).
   */
  'peer-error': PeerErrorEvent
  'session-ended': undefined
  /** A file transfer appeared or changed state. */
  file: FileTransferView
  /** Bytes done, total, speed and time left of a moving transfer. */
  'file-progress': FileProgress
  /** A transfer failed (`code` says why; 'storage-full' means this device's storage is full). */
  'file-error': FileErrorEvent
  /** The group admin's signed member list no longer has the user: the group is read-only now. */
  'group-removed': { groupId: string; name: string; by: string }
  /** Group data refused: membership the server claims, forged or altered messages, bad member lists. */
  'group-error': GroupErrorEvent
}

export interface TypingEvent {
  readonly conversationId: ConversationId
  readonly username: string
  readonly typing: boolean
}

export interface SafetyNumberView {
  /** 60 digits in 12 groups of 5. */
  readonly digits: string
  /** Text to put in a QR code. */
  readonly qr: string
  readonly verified: boolean
}
