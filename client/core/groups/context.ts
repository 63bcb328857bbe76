import type { FileOfferMessage, GroupFileFrame, MessageActionMessage } from '../../../shared/index.ts'
import type { Message, MessageContent } from '../store/history.ts'
import type { GroupStore, LiveGroup } from './group-store.ts'
import type { PeerViews } from './holdings.ts'
import type { FrameSink, GroupOutgoing } from './outgoing.ts'
import type { GroupErrorEvent } from './types.ts'

/** The pairwise connections to members (the peer manager). */
export interface GroupTransport extends FrameSink {
  isOpen(peer: string): boolean
  /** The identity key the open connection's remote side proved in its handshake (peer/link.ts). */
  authenticatedKey(peer: string): Uint8Array | undefined
  /** Starts connecting if not connected (and the member is online). */
  connect(peer: string): void
}

/** The file transfers' side of files in groups. */
export interface GroupFileHandler {
  /** Records a shared file from its group message; the content to store, or undefined to drop it. */
  groupOffer(
    groupId: string,
    author: string,
    frame: FileOfferMessage,
  ): Promise<{ type: 'file' | 'image'; content: MessageContent } | undefined>
  /** The file's message is stored (`isNew` false for a duplicate). */
  offerStored(peer: undefined, frame: FileOfferMessage, isNew: boolean): Promise<void>
  /** A member asks for, acknowledges or stops a file (already checked to be in the signed list). */
  groupControl(peer: string, frame: GroupFileFrame): Promise<void>
}

/**
 * Where group content that is not the group layer's own goes: files and message actions. The
 * composition root (create-client.ts) registers them once with `Groups.handleContent`, after
 * making those parts (they post into groups, so they are made after the groups).
 */
export interface GroupContentHandlers {
  files?: GroupFileHandler
  actions?: GroupActionHandler
}

/** The message actions' side of changes in groups (message-actions.ts). */
export interface GroupActionHandler {
  /** A reaction, edit or delete from a group message whose author's signature was verified. */
  receiveGroup(groupId: string, author: string, frame: MessageActionMessage): Promise<void>
  /** A group message was stored: replies and changes that came before it can use it now. */
  groupMessageStored(message: Message): Promise<void>
}

/**
 * What the parts of the group layer share (groups.ts makes it): the groups this device holds,
 * their database, the frames queued for members and what each connected member holds.
 */
export interface GroupContext {
  readonly me: string
  readonly groups: Map<string, LiveGroup>
  readonly store: GroupStore
  readonly out: GroupOutgoing
  readonly views: PeerViews
  readonly transport: GroupTransport
  /** Who the server says is online (presence). */
  readonly online: () => ReadonlySet<string>
  readonly now: () => number
  /** Resolves when the stored groups are loaded. */
  readonly loaded: () => Promise<void>
  /** True once the group layer is closed: timers that fire after it do nothing. */
  readonly closed: () => boolean
  /** Work on one group runs one step at a time, in the order it arrived (after loading). */
  run<T>(groupId: string, task: () => Promise<T>): Promise<T>
  /** A `group-error` event, at most one for the same refusal from the same member per few seconds. */
  report(e: GroupErrorEvent): void
  /** One `groups` event for any number of changes in the same turn. */
  changed(): void
}

/** Newest ciphertext copies kept per group for members who missed them. */
export const keptCopies = 5000
