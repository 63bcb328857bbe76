import { createCipheriv, randomBytes as nodeRandomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import {
  defaultKdfParams,
  derivePasswordKeys,
  ed25519KeyPair,
  ed25519Sign,
  ed25519Verify,
  FileEncryptor,
  initCrypto,
  newFileId,
  newFileKey,
  newPasswordSalt,
  RatchetSession,
  randomBytes,
  x25519KeyPair,
} from '../crypto/index.ts'
import type { Bench, BenchResult } from './types.ts'

const issue = 3
const chunkBytes = 64 * 1024
const streamBytes = 128 * 1024 * 1024
const mb = 1_000_000

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

/** Ours: the file-transfer path (segmented secretstream with per-chunk AD), one pass over `data`. */
function secretstreamPass(data: Uint8Array): number {
  const chunks = data.length / chunkBytes
  const enc = new FileEncryptor({
    key: newFileKey(),
    fileId: newFileId(),
    fileSize: data.length,
    chunkSize: chunkBytes,
  })
  const start = performance.now()
  for (let i = 0; i < chunks; i++) enc.encryptChunk(data.subarray(i * chunkBytes, (i + 1) * chunkBytes))
  return performance.now() - start
}

/** Node's OpenSSL ChaCha20-Poly1305 on the same chunks, a fresh nonce and AD per chunk. */
function nodeChachaPass(data: Uint8Array): number {
  const chunks = data.length / chunkBytes
  const key = nodeRandomBytes(32)
  const nonce = Buffer.alloc(12)
  const aad = Buffer.alloc(36)
  const start = performance.now()
  for (let i = 0; i < chunks; i++) {
    nonce.writeUInt32LE(i, 4)
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
    cipher.setAAD(aad, { plaintextLength: chunkBytes })
    cipher.update(data.subarray(i * chunkBytes, (i + 1) * chunkBytes))
    cipher.final()
    cipher.getAuthTag()
  }
  return performance.now() - start
}

/** Messages/s for encrypt + decrypt; `replyEvery` > 0 adds a reply (two DH ratchet steps) that often. */
function ratchetRate(messages: number, replyEvery: number): number {
  const rootKey = randomBytes(32)
  const associatedData = randomBytes(32)
  const a = x25519KeyPair()
  const b = x25519KeyPair()
  const alice = RatchetSession.create({
    role: 'initiator',
    rootKey,
    associatedData,
    ownRatchetKeyPair: a,
    remoteRatchetKey: b.publicKey,
  })
  const bob = RatchetSession.create({
    role: 'responder',
    rootKey,
    associatedData,
    ownRatchetKeyPair: b,
    remoteRatchetKey: a.publicKey,
  })
  const body = randomBytes(1000)
  const start = performance.now()
  for (let i = 0; i < messages; i++) {
    if (replyEvery > 0 && i % replyEvery === replyEvery - 1) alice.decrypt(bob.encrypt(body))
    else bob.decrypt(alice.encrypt(body))
  }
  return messages / ((performance.now() - start) / 1000)
}

const bench: Bench = {
  name: 'crypto',
  async run(): Promise<BenchResult[]> {
    await initCrypto()
    const results: BenchResult[] = []
    const data = new Uint8Array(nodeRandomBytes(streamBytes))

    // Warm-up: the first pass through WebAssembly and OpenSSL is slower.
    secretstreamPass(data.subarray(0, 16 * chunkBytes))
    nodeChachaPass(data.subarray(0, 16 * chunkBytes))
    const oursMs = median([secretstreamPass(data), secretstreamPass(data), secretstreamPass(data)])
    const nodeMs = median([nodeChachaPass(data), nodeChachaPass(data), nodeChachaPass(data)])
    const ours = streamBytes / mb / (oursMs / 1000)
    const node = streamBytes / mb / (nodeMs / 1000)
    const streamConditions = `${streamBytes / 1024 / 1024} MiB in 64 KiB chunks, encrypt only, median of 3 passes, Node ${process.version}`
    results.push(
      {
        issue,
        metric: 'secretstream (FileEncryptor) throughput',
        value: round(ours),
        unit: 'MB/s',
        target: '≥ 250 MB/s',
        met: ours >= 250,
        conditions: `libsodium-wrappers-sumo WebAssembly, ${streamConditions}`,
      },
      {
        issue,
        metric: 'Node chacha20-poly1305 throughput (baseline)',
        value: round(node),
        unit: 'MB/s',
        target: '',
        met: null,
        conditions: `node:crypto createCipheriv per chunk (OpenSSL), same data, ${streamConditions}`,
      },
      {
        issue,
        metric: 'secretstream / Node chacha20-poly1305',
        value: round(ours / node, 3),
        unit: 'ratio',
        target: '',
        met: null,
        conditions: 'same run, same data',
      },
    )

    ratchetRate(2000, 0)
    const rate = median([ratchetRate(20_000, 0), ratchetRate(20_000, 0), ratchetRate(20_000, 0)])
    const chatRate = median([ratchetRate(10_000, 10), ratchetRate(10_000, 10), ratchetRate(10_000, 10)])
    results.push(
      {
        issue,
        metric: 'Double Ratchet encrypt + decrypt',
        value: Math.round(rate),
        unit: 'messages/s',
        target: '≥ 20000 messages/s',
        met: rate >= 20_000,
        conditions:
          '1000-byte messages (padded to 1024), in order on one chain, one process, median of 3 × 20000',
      },
      {
        issue,
        metric: 'Double Ratchet encrypt + decrypt, replying every 10 messages',
        value: Math.round(chatRate),
        unit: 'messages/s',
        target: '',
        met: null,
        conditions:
          'as above, but every 10th message goes the other way: two DH ratchet steps (6 X25519 operations) per 10 messages',
      },
    )

    const pair = ed25519KeyPair()
    const msg = randomBytes(256)
    const signatures = 5000
    let t = performance.now()
    let sig: Uint8Array = new Uint8Array(64)
    for (let i = 0; i < signatures; i++) sig = ed25519Sign(pair.secretKey, msg)
    const signRate = signatures / ((performance.now() - t) / 1000)
    t = performance.now()
    let valid = 0
    for (let i = 0; i < signatures; i++) if (ed25519Verify(sig, msg, pair.publicKey)) valid++
    const verifyRate = signatures / ((performance.now() - t) / 1000)
    if (valid !== signatures) throw new Error('Ed25519 verification failed during the benchmark')
    results.push(
      {
        issue,
        metric: 'Ed25519 sign',
        value: Math.round(signRate),
        unit: 'ops/s',
        target: '',
        met: null,
        conditions: '256-byte message, 5000 signatures',
      },
      {
        issue,
        metric: 'Ed25519 verify',
        value: Math.round(verifyRate),
        unit: 'ops/s',
        target: '',
        met: null,
        conditions: '256-byte message, 5000 verifications',
      },
    )

    const argonMs: number[] = []
    for (let i = 0; i < 3; i++) {
      const start = performance.now()
      derivePasswordKeys('benchmark password', newPasswordSalt(), defaultKdfParams)
      argonMs.push(performance.now() - start)
    }
    results.push({
      issue,
      metric: 'Argon2id password key split at default parameters',
      value: Math.round(median(argonMs)),
      unit: 'ms',
      target: '',
      met: null,
      conditions: `opsLimit ${defaultKdfParams.opsLimit}, ${defaultKdfParams.memLimitBytes / 1024 / 1024} MiB, median of 3, WebAssembly in Node`,
    })
    return results
  },
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

export default bench
