import { beforeAll, describe, expect, it, vi } from 'vitest'
import {
  backupHeaderBytes,
  BackupKeyCache,
  BackupReader,
  BackupWriter,
  concatBytes,
  initCrypto,
  type KdfParams,
  randomBytes,
} from '../../../crypto/index.ts'
import * as sodiumModule from '../../../crypto/sodium.ts'
import { expectCode, flipBit } from './helpers.ts'

const cheapKdf: KdfParams = { algorithm: 'argon2id13', opsLimit: 1, memLimitBytes: 8192 }
const cheap = { kdfParams: cheapKdf, minimums: cheapKdf }

beforeAll(async () => {
  await initCrypto()
})

function writeBackup(
  content: readonly Uint8Array[],
  passphrase = 'backup pass',
  chunkSize = 100,
): Uint8Array {
  const w = new BackupWriter(passphrase, { ...cheap, chunkSize })
  return concatBytes(w.start(), ...content.map((c) => w.write(c)), w.finish())
}

/** Feeds the file in uneven pieces, as a file reader would. */
function readBackup(file: Uint8Array, passphrase = 'backup pass', pieceBytes = 37): Uint8Array {
  const r = new BackupReader(passphrase, { minimums: cheapKdf })
  const out: Uint8Array[] = []
  for (let i = 0; i < file.length; i += pieceBytes) out.push(...r.push(file.subarray(i, i + pieceBytes)))
  r.finish()
  return concatBytes(...out)
}

describe('encrypted backup', () => {
  it('round-trips content written in pieces of any size', () => {
    const parts = [randomBytes(5), randomBytes(250), new Uint8Array(0), randomBytes(1000)]
    const file = writeBackup(parts)
    expect(readBackup(file)).toEqual(concatBytes(...parts))
    expect(readBackup(file, 'backup pass', 1)).toEqual(concatBytes(...parts))
    expect(readBackup(file, 'backup pass', file.length)).toEqual(concatBytes(...parts))
  })

  it('round-trips an empty backup and one that ends exactly on a chunk boundary', () => {
    expect(readBackup(writeBackup([]))).toEqual(new Uint8Array(0))
    const exact = randomBytes(300)
    expect(readBackup(writeBackup([exact]))).toEqual(exact)
  })

  it('starts with the magic and version and records the KDF parameters', () => {
    const file = writeBackup([randomBytes(10)])
    expect(new TextDecoder().decode(file.subarray(0, 8))).toBe('TINCANBK')
    expect(file[8]).toBe(1)
    expect(new DataView(file.buffer, file.byteOffset).getUint32(10)).toBe(cheapKdf.opsLimit)
    expect(new DataView(file.buffer, file.byteOffset).getUint32(14)).toBe(cheapKdf.memLimitBytes / 1024)
    expect(file.length).toBeGreaterThan(backupHeaderBytes)
  })

  it('refuses a wrong passphrase', () => {
    const file = writeBackup([randomBytes(500)])
    expectCode(() => readBackup(file, 'wrong pass'), 'decrypt-failed')
  })

  it('refuses a truncated backup, whether cut mid-frame, between frames or in the header', () => {
    const file = writeBackup([randomBytes(500)])
    const frameEnd = backupHeaderBytes + 4 + 100 + 17
    expectCode(() => readBackup(file.subarray(0, file.length - 1)), 'truncated')
    expectCode(() => readBackup(file.subarray(0, frameEnd)), 'truncated')
    expectCode(() => readBackup(file.subarray(0, 30)), 'truncated')
  })

  it('refuses an altered body, header, frame order or trailing data', () => {
    const file = writeBackup([randomBytes(500)])
    expectCode(() => readBackup(flipBit(file, backupHeaderBytes + 20)), 'decrypt-failed')
    expectCode(() => readBackup(flipBit(file, file.length - 1)), 'decrypt-failed')
    expectCode(() => readBackup(flipBit(file, 0)), 'bad-format')
    expectCode(() => readBackup(flipBit(file, 8)), 'bad-format')
    expectCode(() => readBackup(flipBit(file, 20)), 'decrypt-failed') // salt
    expectCode(() => readBackup(flipBit(file, backupHeaderBytes - 1)), 'decrypt-failed') // stream header
    const frame = 4 + 100 + 17
    const body = file.subarray(backupHeaderBytes)
    const swapped = concatBytes(
      file.subarray(0, backupHeaderBytes),
      body.subarray(frame, 2 * frame),
      body.subarray(0, frame),
      body.subarray(2 * frame),
    )
    expectCode(() => readBackup(swapped), 'decrypt-failed')
    expectCode(() => readBackup(concatBytes(file, new Uint8Array([0, 0, 0, 0]))), 'bad-format')
  })

  it('reads a file a second time with the key kept from the first reading, and only that file', () => {
    const content = randomBytes(500)
    const file = writeBackup([content])
    const other = randomBytes(50)
    const otherFile = writeBackup([other])
    const keys = new BackupKeyCache()
    const read = (f: Uint8Array, passphrase: string) => {
      const r = new BackupReader(passphrase, { minimums: cheapKdf, keys })
      const out = concatBytes(...r.push(f))
      r.finish()
      return out
    }
    const pwhash = vi.spyOn(sodiumModule.sodium(), 'crypto_pwhash')
    try {
      expect(read(file, 'backup pass')).toEqual(content)
      expect(pwhash).toHaveBeenCalledTimes(1)
      expect(read(file, 'backup pass')).toEqual(content)
      expect(pwhash).toHaveBeenCalledTimes(1)
      // Another passphrase, or another file (its own salt), derives its own key.
      expectCode(() => read(file, 'wrong pass'), 'decrypt-failed')
      expect(pwhash).toHaveBeenCalledTimes(2)
      expect(read(otherFile, 'backup pass')).toEqual(other)
      expect(pwhash).toHaveBeenCalledTimes(3)
      keys.wipe()
      expect(read(file, 'backup pass')).toEqual(content)
      expect(pwhash).toHaveBeenCalledTimes(4)
    } finally {
      pwhash.mockRestore()
    }
  })

  it('refuses a backup whose KDF parameters are below the enforced minimums', () => {
    const file = writeBackup([randomBytes(10)])
    const r = new BackupReader('backup pass')
    expectCode(() => r.push(file), 'weak-kdf-params')
    expectCode(() => new BackupWriter('x', { kdfParams: cheapKdf }), 'weak-kdf-params')
  })
})
