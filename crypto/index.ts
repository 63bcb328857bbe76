export { CryptoError, cryptoErrorCodes, type CryptoErrorCode } from './errors.ts'
export { initCrypto } from './sodium.ts'
export {
  concatBytes,
  equalBytes,
  fromBase64Url,
  randomBytes,
  toBase64Url,
  utf8Decode,
  utf8Encode,
} from './bytes.ts'
export { hkdfExpand, hkdfExtract, hkdfSha256, hmacSha256, sha256 } from './hkdf.ts'
export {
  ed25519KeyPair,
  ed25519KeyPairFromSeed,
  ed25519Sign,
  ed25519Verify,
  type KeyPair,
  x25519,
  x25519KeyPair,
  chachaIetfDecrypt,
  chachaIetfEncrypt,
  xchachaDecrypt,
  xchachaEncrypt,
} from './primitives.ts'
export {
  argon2id,
  checkKdfParams,
  defaultKdfParams,
  derivePasswordKeys,
  type KdfParams,
  maximumKdfParams,
  minimumKdfParams,
  newPasswordSalt,
  passwordSaltBytes,
  type PasswordKeys,
} from './password.ts'
export {
  decryptRecord,
  encryptRecord,
  generateVaultKey,
  MemoryRecordStore,
  type RecordRef,
  type RecordStore,
  unwrapVaultKey,
  Vault,
  wrapVaultKey,
} from './vault.ts'
export {
  generateIdentity,
  type Identity,
  identityFromJson,
  type IdentityJson,
  identityToJson,
  publicIdentity,
  type PublicIdentity,
  publicIdentityFromJson,
  type PublicIdentityJson,
  publicIdentityToJson,
  sealIdentity,
  unsealIdentity,
  verifyStaticKey,
} from './identity.ts'
export {
  formatSafetyNumber,
  type SafetyParty,
  safetyNumber,
  safetyNumberFromTypedKeys,
  safetyQrPayload,
  verifySafetyQr,
} from './safety-number.ts'
export {
  admitSequence,
  type EnvelopeInput,
  type EnvelopeType,
  envelopeWindowMs,
  maxEnvelopePayloadBytes,
  MemorySequenceStore,
  parseEnvelope,
  type PinnedKeyStore,
  type SequenceRecord,
  type SequenceStore,
  sequenceWindow,
  type SequenceVerdict,
  signEnvelope,
  type SignedEnvelope,
  type VerifiedEnvelope,
  type VerifyEnvelopeContext,
  verifyEnvelope,
} from './envelope.ts'
export { normalizeFingerprint, sdpFingerprints } from './sdp-fingerprints.ts'
export {
  CipherState,
  NoiseHandshake,
  type NoiseOptions,
  type NoisePattern,
  type NoiseSplit,
} from './noise.ts'
export { Handshake, type HandshakeOptions, handshakePrologue, type HandshakeResult } from './handshake.ts'
export {
  ratchetDefaults,
  type RatchetInit,
  type RatchetOptions,
  ratchetPaddingBytes,
  RatchetSession,
} from './ratchet.ts'
export type { RatchetStateJson } from './ratchet-state.ts'
export {
  type GroupMember,
  type MemberListSigner,
  createMemberList,
  memberListHash,
  nextMemberList,
  type SignedMemberList,
  verifyMemberListChain,
  verifyMemberListUpdate,
} from './group-member-list.ts'
export {
  groupMaxSkip,
  GroupReceiver,
  type GroupReceiverJson,
  groupRotation,
  GroupSender,
  type GroupSenderJson,
  type SenderKeyDistribution,
} from './group-sender-key.ts'
export {
  type GroupMessageHeader,
  groupMessageHeader,
  type PreviousEpoch,
  signSenderKey,
  type SignedSenderKey,
  verifySenderKey,
} from './group-signed-key.ts'
export {
  type EncryptedChunk,
  encryptedFileSize,
  fileChunkCount,
  fileChunksPerSegment,
  type FileCryptoParams,
  FileDecryptor,
  FileEncryptor,
  FileHasher,
  fileSegmentCount,
  newFileId,
  newFileKey,
} from './file-crypto.ts'
export {
  backupHeaderBytes,
  BackupKeyCache,
  type BackupOptions,
  BackupReader,
  BackupWriter,
  defaultBackupChunkBytes,
} from './backup.ts'
export {
  releaseBundleHash,
  type ReleaseFiles,
  releaseManifestText,
  releaseStatement,
  sha256Hex,
  signRelease,
  verifyRelease,
} from './release.ts'
