/**
 * The client core's public surface: everything the UI, the tests and the benchmarks may use.
 * Nothing imports a deeper path of client/core from outside it (eslint.config.js enforces this).
 */
export { initCrypto } from '../../crypto/index.ts'

// The client and what it shows.
export {
  TincanClient,
  GroupError,
  groupConversationId,
  type ClientEnv,
  type ClientEvents,
  type FriendView,
  type SafetyNumberView,
  type GroupErrorEvent,
  type GroupMemberView,
  type TypingEvent,
  type GroupView,
} from './client.ts'
export { groupOfConversation } from './groups/groups.ts'
export type { ConnectionState, SocketLike } from './signaling.ts'
export type { PeerManagerEnv, PeerState } from './peer/peer-manager.ts'
export {
  RtcPeerError,
  rtcPeerErrorCodes,
  type RtcPeerConnectionClass,
  type RtcPeerErrorCode,
} from './peer/rtc-peer.ts'

// Accounts, and the browser's pieces of them.
export { AccountError, type KdfRunner } from './account.ts'
export { ApiError } from './api.ts'
export { workerKdf, KdfError } from './kdf/worker-kdf.ts'
export { dtlsCertificate } from './peer/dtls-certificate.ts'
export type { SafetyScanResult } from './safety-scan.ts'

// Messages and conversations.
export {
  conversationTarget,
  directConversationId,
  peerOfConversation,
  type ConversationId,
  type ChangeRefusal,
  type Conversation,
  type FileContent,
  type Message,
  type MessageContent,
  type Quote,
  type Reaction,
  type RemovedMessage,
  type SearchHit,
} from './store/history.ts'
export { MessageActionError, type MessageActionErrorCode } from './action-error.ts'
export { newMessageId, type SendTextOptions } from './messenger.ts'

// Files.
export {
  FileTransferError,
  defaultAutoAcceptImagesUnderBytes,
  type FileErrorCode,
  type FileErrorEvent,
  type FileProgress,
  type FileTransferErrorCode,
  type FileTransferView,
  type SendFileOptions,
  type TransferState,
} from './files/types.ts'
export { neutraliseBidi, shownFileName, type ShownFileName } from './files/file-name.ts'
export { isInlineImage } from './files/describe.ts'
export { createReceiveWorker } from './files/receive-worker-client.ts'
export type { FileSource } from './files/file-source.ts'

// Your data: exports, backups.
export { DataError, type DataErrorCode } from './export/errors.ts'
export { minPassphraseLength, type CreateBackupOptions } from './export/backup-create.ts'
export type { RestoreOptions, RestoreSummary } from './export/backup-restore.ts'

// The served client and its release signature.
export {
  ReleaseMonitor,
  releaseChannelName,
  type ReleaseChannel,
  type ReleaseMemory,
  type ReleaseMonitorState,
} from './release/release-monitor.ts'
export {
  parseRememberedRelease,
  type ReleaseAlert,
  type RememberedRelease,
  type WarningCause,
} from './release/release-watch.ts'
export { checkServedRelease, servedReleaseChecker, type ServedCheck } from './release/served-release.ts'

// Every error the client throws or reports, with its codes listed (the UI has a sentence for each).
export { TincanError } from './errors.ts'
export { CryptoError, cryptoErrorCodes, type CryptoErrorCode } from '../../crypto/index.ts'
export { accountErrorCodes, type AccountErrorCode } from './account.ts'
export { messageActionErrorCodes } from './action-error.ts'
export { apiErrorCodes, type ApiErrorCode } from './api.ts'
export { dataErrorCodes } from './export/errors.ts'
export { UnsupportedValueError, unsupportedValueErrorCodes } from './export/tagged-json.ts'
export { FileStoreError, fileStoreErrorCodes, type FileStoreErrorCode } from './files/file-store.ts'
export { PrepareError, prepareErrorCodes, type PrepareErrorCode } from './files/outgoing.ts'
export { fileErrorCodes, fileTransferErrorCodes } from './files/types.ts'
export { groupErrorCodes, type GroupErrorCode } from './groups/errors.ts'
export { groupErrorEventCodes, type GroupErrorEventCode } from './groups/types.ts'
export { peerErrorCodes, type PeerErrorCode, type PeerErrorEvent } from './peer-error.ts'
export { kdfErrorCodes } from './kdf/worker-kdf.ts'
