// Real filesystem conditions under a server's data folder, for the storage fault tests.
// Both need root (mount, chattr); each probe says why it cannot run, so the test can skip with
// that one reason instead of failing on a machine that forbids it.
import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A condition that can be put on a data folder and taken off again while the server runs. */
export interface StorageFault {
  readonly name: string
  /** Why this machine cannot produce the condition, or undefined when it can. */
  readonly unavailable: string | undefined
  /** A fresh data folder on a filesystem where the condition can be produced. */
  makeDataDir(): string
  apply(dataDir: string): void
  clear(dataDir: string): void
  /** Undoes everything makeDataDir and apply did (safe to call twice). */
  dispose(dataDir: string): void
}

const run = (command: string, args: readonly string[]): void => {
  execFileSync(command, args, { stdio: 'pipe' })
}

function reason(e: unknown): string {
  const stderr = (e as { stderr?: unknown }).stderr
  const text = Buffer.isBuffer(stderr) ? stderr.toString().trim() : ''
  return text || (e instanceof Error ? e.message : String(e))
}

// ---- full: a small tmpfs filled up by a filler file ----

const tmpfsBytes = 8 * 2 ** 20

function probeMount(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'tincan-probe-'))
  try {
    run('mount', ['-t', 'tmpfs', '-o', 'size=1M', 'tmpfs', dir])
    run('umount', [dir])
    return undefined
  } catch (e: unknown) {
    return `cannot mount a tmpfs to fill up (needs root or CAP_SYS_ADMIN): ${reason(e)}`
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The data folder is an 8 MiB tmpfs; "full" writes a filler file until the kernel says ENOSPC. */
export const diskFull: StorageFault = {
  name: 'full',
  unavailable: probeMount(),
  makeDataDir() {
    const dir = mkdtempSync(join(tmpdir(), 'tincan-full-'))
    run('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsBytes}`, 'tmpfs', dir])
    return dir
  },
  apply(dir) {
    const fd = openSync(join(dir, 'filler'), 'w')
    const chunk = Buffer.alloc(64 * 1024, 0x78)
    try {
      for (;;) writeSync(fd, chunk)
    } catch (e: unknown) {
      if ((e as { code?: unknown }).code !== 'ENOSPC') throw e
    } finally {
      closeSync(fd)
    }
    // The last partial block too, so not even a page is left.
    const fd1 = openSync(join(dir, 'filler-tail'), 'w')
    try {
      for (;;) writeSync(fd1, Buffer.alloc(512))
    } catch {
      // ENOSPC: done
    } finally {
      closeSync(fd1)
    }
  },
  clear(dir) {
    rmSync(join(dir, 'filler'), { force: true })
    rmSync(join(dir, 'filler-tail'), { force: true })
  },
  dispose(dir) {
    try {
      run('umount', [dir])
    } catch {
      // not mounted (any more)
    }
    rmSync(dir, { recursive: true, force: true })
  },
}

// ---- read-only: the immutable attribute on the database, its write-ahead log and the folder ----

/**
 * Root ignores file modes, so chmod 0444 would not stop this server. The immutable attribute
 * stops root too, including writes through descriptors opened before it was set (ext4, xfs,
 * btrfs). A read-only remount cannot be used: the kernel refuses it while the database is open
 * for writing ("mount point is busy"). The shared-memory index (-shm) is left alone: it is
 * memory-mapped, and a fault on a mapped page would be a signal, not an error SQLite can answer.
 */
const immutable = (dir: string): string[] => [dir, join(dir, 'tincan.sqlite'), join(dir, 'tincan.sqlite-wal')]

function probeImmutable(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'tincan-probe-'))
  const file = join(dir, 'probe')
  writeFileSync(file, 'x')
  const fd = openSync(file, 'r+')
  try {
    run('chattr', ['+i', file])
  } catch (e: unknown) {
    closeSync(fd)
    rmSync(dir, { recursive: true, force: true })
    return `cannot set the immutable attribute under ${tmpdir()} (needs root and ext4/xfs/btrfs): ${reason(e)}`
  }
  try {
    writeSync(fd, 'y')
    return `the filesystem under ${tmpdir()} lets an open descriptor write to an immutable file`
  } catch {
    return undefined
  } finally {
    closeSync(fd)
    run('chattr', ['-i', file])
    rmSync(dir, { recursive: true, force: true })
  }
}

export const readOnly: StorageFault = {
  name: 'read-only',
  unavailable: probeImmutable(),
  makeDataDir() {
    return mkdtempSync(join(tmpdir(), 'tincan-ro-'))
  },
  apply(dir) {
    run('chattr', ['+i', ...immutable(dir)])
  },
  clear(dir) {
    run('chattr', ['-i', ...immutable(dir)])
  },
  dispose(dir) {
    try {
      run('chattr', ['-i', ...immutable(dir)])
    } catch {
      // already cleared, or the files are gone
    }
    rmSync(dir, { recursive: true, force: true })
  },
}
