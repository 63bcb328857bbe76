import {
  cryptoErrorCodes,
  CryptoError,
  AccountError,
  accountErrorCodes,
  MessageActionError,
  messageActionErrorCodes,
  ApiError,
  apiErrorCodes,
  DataError,
  dataErrorCodes,
  UnsupportedValueError,
  unsupportedValueErrorCodes,
  FileStoreError,
  fileStoreErrorCodes,
  PrepareError,
  prepareErrorCodes,
  fileErrorCodes,
  FileTransferError,
  fileTransferErrorCodes,
  GroupError,
  groupErrorCodes,
  groupErrorEventCodes,
  peerErrorCodes,
  KdfError,
  kdfErrorCodes,
  RtcPeerError,
  rtcPeerErrorCodes,
  type RtcPeerErrorCode,
  type CryptoErrorCode,
  type AccountErrorCode,
  type MessageActionErrorCode,
  type ApiErrorCode,
  type DataErrorCode,
  type FileStoreErrorCode,
  type PrepareErrorCode,
  type FileErrorCode,
  type FileTransferErrorCode,
  type GroupErrorCode,
  type GroupErrorEvent,
  type GroupErrorEventCode,
  type PeerErrorCode,
  type PeerErrorEvent,
} from '../../../core/index.ts'
import { limits } from '../../../../shared/index.ts'
import type { MessageKey } from './i18n/en.ts'
import type { Sentence } from './i18n/translate.ts'
import { CameraError, cameraProblems, type CameraProblem } from './qr-scan.ts'

// The one place that decides what a person is told about a failure: every code of every error
// the client throws, and of every failure it reports as an event, has its sentence here (or, for
// events, is marked as not shown). A code is never shown as text, nor is any exception's message.
// Plain code (no runes), so a test can render every sentence in every language.

type Keys<C extends string> = Readonly<Record<C, MessageKey>>

const apiKeys: Keys<ApiErrorCode> = {
  'bad-request': 'err.badRequest',
  // The REST API answers none of these but a server can say anything: no code goes unsaid.
  'bad-json': 'err.protocol',
  'too-deep': 'err.protocol',
  'unknown-type': 'err.protocol',
  'bad-frame': 'err.protocol',
  'frame-too-large': 'err.protocol',
  'not-authenticated': 'err.protocol',
  'already-authenticated': 'err.protocol',
  'auth-timeout': 'err.protocol',
  'payload-too-large': 'err.tooLarge',
  unauthorized: 'err.sessionEnded',
  'invalid-credentials': 'err.invalidCredentials',
  forbidden: 'err.forbidden',
  'not-found': 'err.notFound',
  'username-taken': 'err.usernameTaken',
  'rate-limited': 'err.rateLimited',
  'not-friends': 'err.notFriends',
  blocked: 'err.blocked',
  'already-friends': 'err.alreadyFriends',
  self: 'err.self',
  'not-member': 'group.err.notMember',
  'not-admin': 'group.err.notAdmin',
  'group-full': 'group.err.tooMany',
  'too-many-groups': 'err.tooManyGroups',
  conflict: 'err.conflict',
  'peer-offline': 'err.peerOffline',
  // The client re-sends a busy friend's signals by itself; said only if it ever reached a person.
  'recipient-busy': 'err.recipientBusy',
  'too-many-sockets': 'err.tooManySockets',
  'storage-unavailable': 'err.serverTrouble',
  internal: 'err.serverTrouble',
  network: 'err.network',
  'bad-response': 'err.badResponse',
}

const accountKeys: Keys<AccountErrorCode> = {
  'weak-kdf-params': 'err.weakKdf',
  // One sentence for both: which of the two it was is no help to someone signing in.
  'wrong-password': 'err.identityMismatch',
  'identity-mismatch': 'err.identityMismatch',
}

const messageActionKeys: Keys<MessageActionErrorCode> = {
  'not-found': 'err.action.notFound',
  'not-author': 'err.action.notAuthor',
  'not-editable': 'err.action.notEditable',
  deleted: 'err.action.deleted',
  forbidden: 'err.reviewKey',
  'not-member': 'group.err.notMember',
  invalid: 'err.action.invalid',
}

const dataKeys: Keys<DataErrorCode> = {
  'wrong-passphrase': 'err.data.wrongPassphrase',
  damaged: 'err.data.damaged',
  'not-a-backup': 'err.data.notABackup',
  'unsupported-version': 'err.data.unsupportedVersion',
  'wrong-account': 'err.data.wrongAccount',
  'weak-passphrase': 'err.data.weakPassphrase',
  'not-found': 'err.data.notFound',
  'storage-full': 'err.data.storageFull',
  'storage-failed': 'err.data.storageFailed',
}

const groupKeys: Keys<GroupErrorCode> = {
  'not-found': 'group.err.notFound',
  'not-admin': 'group.err.notAdmin',
  'not-member': 'group.err.notMember',
  'not-friend': 'group.err.notFriend',
  'admin-cannot-leave': 'group.err.adminCannotLeave',
  'too-many': 'group.err.tooMany',
  invalid: 'group.err.invalid',
}

const fileTransferKeys: Keys<FileTransferErrorCode> = {
  'not-found': 'file.err.gone',
  forbidden: 'file.err.forbidden',
  'not-member': 'group.err.notMember',
  'bad-state': 'file.err.gone',
  'too-large': 'file.err.tooLarge',
  'bad-thumbnail': 'err.file.badThumbnail',
}

const fileStoreKeys: Keys<FileStoreErrorCode> = {
  'storage-full': 'file.err.storageFull',
  'storage-failed': 'file.err.storageFailed',
}

/** Why the camera could not scan a safety code (the safety pane shows these). */
export const cameraKeys: Keys<CameraProblem> = {
  denied: 'safety.cameraDenied',
  'no-camera': 'safety.cameraMissing',
  unavailable: 'safety.cameraUnavailable',
}

/** Connections are retried by themselves: should one of these ever reach an action, it is the network's. */
const rtcPeerKeys: Keys<RtcPeerErrorCode> = {
  'negotiation-failed': 'err.network',
  'ice-failed': 'err.network',
  'connection-failed': 'err.network',
  'channel-error': 'err.network',
  'not-open': 'err.network',
}

const prepareKeys: Keys<PrepareErrorCode> = {
  'read-failed': 'file.err.readFailed',
  cancelled: 'err.file.cancelled',
}

/** When a crypto failure reaches an action of the user (opening a file that was altered, say). */
const cryptoKeys: Keys<CryptoErrorCode> = {
  'not-ready': 'err.crypto.notReady',
  'bad-state': 'err.crypto.notReady',
  'decrypt-failed': 'err.crypto.damaged',
  'hash-mismatch': 'err.crypto.damaged',
  'bad-format': 'err.crypto.damaged',
  truncated: 'err.crypto.damaged',
  'too-far-ahead': 'err.crypto.damaged',
  'bad-signature': 'err.crypto.untrusted',
  'untrusted-key': 'err.crypto.untrusted',
  'wrong-recipient': 'err.crypto.untrusted',
  'fingerprint-mismatch': 'err.crypto.untrusted',
  'low-order-key': 'err.crypto.untrusted',
  'not-admin': 'err.crypto.untrusted',
  'bad-chain': 'err.crypto.untrusted',
  replay: 'err.crypto.outdated',
  duplicate: 'err.crypto.outdated',
  stale: 'err.crypto.outdated',
  'no-sender-key': 'err.crypto.noKey',
  'weak-kdf-params': 'err.weakKdf',
}

/** One error class a person can meet: its codes, and the sentence for each. */
export interface ErrorRow {
  readonly name: string
  readonly codes: readonly string[]
  readonly keys: Readonly<Record<string, MessageKey>>
  readonly is: (e: unknown) => e is { readonly code: string }
}

function row<E extends { readonly code: string }>(
  type: abstract new (...args: never[]) => E,
  codes: readonly E['code'][],
  keys: Keys<E['code']>,
): ErrorRow {
  return { name: type.name, codes, keys, is: (e: unknown): e is E => e instanceof type }
}

/** Every error class the client throws, each with every one of its codes. */
export const errorRows: readonly ErrorRow[] = [
  row(ApiError, apiErrorCodes, apiKeys),
  row(AccountError, accountErrorCodes, accountKeys),
  row(MessageActionError, messageActionErrorCodes, messageActionKeys),
  row(DataError, dataErrorCodes, dataKeys),
  row(GroupError, groupErrorCodes, groupKeys),
  row(FileTransferError, fileTransferErrorCodes, fileTransferKeys),
  row(FileStoreError, fileStoreErrorCodes, fileStoreKeys),
  row(PrepareError, prepareErrorCodes, prepareKeys),
  row(RtcPeerError, rtcPeerErrorCodes, rtcPeerKeys),
  row(CameraError, cameraProblems, cameraKeys),
  row(UnsupportedValueError, unsupportedValueErrorCodes, {
    'unsupported-value': 'err.data.unsupportedValue',
  }),
  row(KdfError, kdfErrorCodes, { 'kdf-failed': 'err.kdf' }),
  row(CryptoError, cryptoErrorCodes, cryptoKeys),
]

/** What every thrown error's sentence may name. */
const errorParams = { max: limits.groupMaxMembers }

/** What a person is told about a failure nobody foresaw: its details go to the console. */
export const unexpectedSentence: Sentence = { key: 'err.unexpected' }

/** The sentence for an error the client threw; undefined for one that is not the client's. */
export function errorSentence(e: unknown): Sentence | undefined {
  for (const r of errorRows) {
    if (!r.is(e)) continue
    const key = r.keys[e.code]
    return key === undefined ? undefined : { key, params: errorParams }
  }
  return undefined
}

// ---- failures reported as events ----

const fileEventKeys: Keys<FileErrorCode> = {
  'storage-full': 'file.err.storageFull',
  'peer-storage-full': 'file.err.peerStorageFull',
  'bad-data': 'file.err.badData',
  'hash-mismatch': 'file.err.hashMismatch',
  unavailable: 'file.err.unavailable',
  'read-failed': 'file.err.readFailed',
  'peer-failed': 'file.err.peerFailed',
  'storage-failed': 'file.err.storageFailed',
  'not-member': 'group.err.notMember',
}

/** Why a transfer failed; `peer` is the friend (or group conversation) it was with. */
export function fileErrorSentence(code: FileErrorCode, peer: string): Sentence {
  return { key: fileEventKeys[code], params: { name: peer } }
}

/**
 * Group data that was refused, caused by other members or the server. `null`: not shown, only
 * logged — a member's device that has not yet heard it was removed keeps sending for a while.
 */
const groupEventKeys: Readonly<Record<GroupErrorEventCode, MessageKey | null>> = {
  'server-membership': 'group.refused.serverMembership',
  'not-in-member-list': 'group.refused.notInMemberList',
  'bad-member-list': 'group.refused.badMemberList',
  'untrusted-creator': 'group.refused.untrustedCreator',
  'not-a-member': null,
  'forged-message': 'group.refused.forged',
  'forged-key': 'group.refused.forged',
  'key-mismatch': 'group.refused.keyMismatch',
  'key-claim': 'group.refused.keyClaim',
}

/** The sentence for refused group data, or undefined when it is not for people; `group`: its shown name. */
export function groupEventSentence(e: GroupErrorEvent, group: string): Sentence | undefined {
  const key = groupEventKeys[e.code]
  if (key === null) return undefined
  return { key, params: { group, peer: e.peer ?? '', members: (e.members ?? []).join(', ') } }
}

/**
 * What a person is told about a refused connection or a refused change from a friend. Shown:
 * what says someone may be forging or swapping keys (a relay or network in the middle, or an
 * impostor), a clock too far off to ever connect, and a friend's app changing messages that
 * are not theirs. `null`, not shown: trouble that ends with the next attempt — a connection cut
 * mid-handshake, frames that do not parse or decrypt (a closed or confused connection), a state
 * the connection was torn down in. The client retries those by itself; the console has them.
 */
const peerEventKeys: Readonly<Record<PeerErrorCode, MessageKey | null>> = {
  'untrusted-key': 'err.peer.untrustedKey',
  'bad-signature': 'err.peer.forgedSignal',
  'wrong-recipient': 'err.peer.forgedSignal',
  replay: 'err.peer.forgedSignal',
  'fingerprint-mismatch': 'err.peer.swappedKeys',
  'low-order-key': 'err.peer.swappedKeys',
  stale: 'err.peer.clock',
  'not-author': 'err.peer.refusedChange',
  'wrong-conversation': 'err.peer.refusedChange',
  'not-editable': 'err.peer.refusedChange',
  'not-ready': null,
  'decrypt-failed': null,
  duplicate: null,
  'too-far-ahead': null,
  'bad-format': null,
  truncated: null,
  'weak-kdf-params': null,
  'not-admin': null,
  'bad-chain': null,
  'no-sender-key': null,
  'bad-state': null,
  'hash-mismatch': null,
}

/** The sentence for a `peer-error`, or undefined for trouble the client recovers from by itself. */
export function peerErrorSentence(e: PeerErrorEvent): Sentence | undefined {
  const key = peerEventKeys[e.code]
  return key === null ? undefined : { key, params: { name: e.peer } }
}

/** Every code of every failure event, for the test that each has its sentence or is not shown. */
export const eventCodes = {
  file: fileErrorCodes,
  group: groupErrorEventCodes,
  peer: peerErrorCodes,
} as const
