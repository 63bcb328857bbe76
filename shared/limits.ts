/**
 * Limits shared by the server and the client. Units are in the names.
 *
 * Every `…Length` counts UTF-16 code units: what JavaScript's `String.length`, TypeBox's
 * `Value.Check`, an HTML `maxlength` and crypto/'s checks all count, so a string the server
 * accepts is one every client accepts too (the server's validator is set to count the same
 * way: ajv `unicode: false` in signaling/app.ts). An emoji outside the Basic Multilingual
 * Plane counts 2; a letter with a combining accent counts 2 (letter + mark).
 */
export const limits = {
  usernameMinLength: 3,
  usernameMaxLength: 32,
  /** Base64url of 32 bytes is 43 characters. */
  key32Base64Length: 43,
  saltBase64Length: 22,
  keyBundleMaxLength: 8192,
  friendNoteMaxLength: 280,
  groupNameMaxLength: 64,
  groupMaxMembers: 50,
  memberListMaxLength: 32_768,
  envelopeMaxLength: 48 * 1024,
  sessionIdMaxLength: 64,
  refMaxLength: 64,
  userAgentMaxLength: 256,
  searchPrefixMaxLength: 32,
  searchMaxResults: 20,
  /** Error messages (HTTP and socket) are cut to this many characters. */
  errorMessageMaxLength: 500,
  /** A frame larger than this is answered with `frame-too-large`. */
  maxFrameBytes: 64 * 1024,
  /** Arrays and objects nested deeper than this are answered with `too-deep`. */
  maxJsonDepth: 12,
  /** The first frame on a socket must authenticate within this time, or the socket is closed with 4401. */
  authTimeoutMs: 5_000,
  /** `GET /api/groups` answers this many groups at most, and a `next` cursor for the rest. */
  groupsPageSize: 20,
  /**
   * Argon2id parameters a new password may use: the client's minimum (crypto/password.ts takes
   * these), below which the stored auth-key hash is cheap to brute-force back to the password,
   * and its maximum, above which no client would derive the key.
   */
  kdfMinOpsLimit: 3,
  kdfMaxOpsLimit: 16,
  kdfMinMemLimitBytes: 64 * 1024 * 1024,
  kdfMaxMemLimitBytes: 1024 * 1024 * 1024,
} as const

/** Key-derivation parameters the server hands out for new accounts and fake prelogin answers. */
export const defaultKdf = {
  alg: 'argon2id13',
  opsLimit: 3,
  memLimitBytes: 64 * 1024 * 1024,
} as const

/** WebSocket close codes used by the server. */
export const closeCodes = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  tooBig: 1009,
  serviceRestart: 1012,
  /** The server could not check the token now (storage unavailable): reconnect later; the session stands. */
  tryAgainLater: 1013,
  /** Not authenticated in time, or with a bad token. */
  unauthorized: 4401,
  /** The session was revoked or the account deleted while connected. */
  sessionEnded: 4403,
  // Back-pressure and connection caps (issue 15).
  /** Invalid UTF-8 in a text frame (sent by the WebSocket layer). */
  invalidPayload: 1007,
  /** The socket stayed over its send queue cap: it does not read what is sent to it. */
  tooSlow: 4408,
  /** The account already has as many sockets as the server allows. */
  tooManySockets: 4429,
} as const
