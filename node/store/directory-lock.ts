import { randomBytes } from 'node:crypto'
import { join, resolve } from 'node:path'
import { DocumentStoreIoError, DocumentStoreLockedError } from './errors.ts'
import type { StoreFileSystem } from './store-file-system.ts'

/** The lock file's name inside a store directory. */
export const LOCK_FILE = 'LOCK'

/**
 * Lock files this process holds. A lock naming this process's pid is live only when listed here:
 * otherwise it is a previous incarnation's that happened to run under the same pid (a container
 * restarting its peer as pid 1 every time).
 */
const HELD = new Set<string>()

/** Whether a process with this pid exists (a pid we may not signal still exists). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Takes the directory's lock file: the pid of this process, made visible complete and atomically
 * (written to a temp file, fsynced, then hard-linked as `LOCK`, which fails if the lock exists).
 * A lock whose pid is dead (or whose content is not a pid, or is this process's pid while no store
 * of this process holds it) is stale and taken over.
 *
 * @remarks Takeover removes the stale file then links again, so of two processes that start at
 * the same instant over one stale lock, both may unlink and one may then remove the other's
 * fresh lock: a narrow race accepted here (peers are started by hand or by a service manager).
 * A pid reused by an unrelated process makes a stale lock look live: the error says to remove it.
 * @throws DocumentStoreLockedError when a live process (this one included) holds the lock.
 * @throws DocumentStoreIoError naming the path on any other I/O error.
 */
export async function acquireDirectoryLock(fs: StoreFileSystem, dir: string): Promise<string> {
  const lock = join(dir, LOCK_FILE)
  const tmp = join(dir, `${LOCK_FILE}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    const fh = await fs.open(tmp, 'wx', 0o600)
    try {
      await fh.writeFile(Buffer.from(`${process.pid}\n`))
      await fh.sync()
    } finally {
      await fh.close()
    }
  } catch (err) {
    throw new DocumentStoreIoError(tmp, 'write the lock file', err)
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.link(tmp, lock)
        HELD.add(resolve(lock))
        return lock
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new DocumentStoreIoError(lock, 'take the lock', err)
      }
      const holder = await readLockPid(fs, lock)
      if (holder === 'gone') continue
      const live = holder === process.pid ? HELD.has(resolve(lock)) : holder !== undefined && processAlive(holder)
      if (live || attempt >= 3) {
        throw new DocumentStoreLockedError(lock, holder)
      }
      try {
        await fs.unlink(lock)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new DocumentStoreIoError(lock, 'remove the stale lock', err)
        }
      }
    }
  } finally {
    await fs.unlink(tmp).catch(() => {})
  }
}

/** The pid a lock file holds; `undefined` when its content is not a pid, `'gone'` when it vanished. */
async function readLockPid(fs: StoreFileSystem, lock: string): Promise<number | undefined | 'gone'> {
  let text: string
  try {
    text = Buffer.from(await fs.readFile(lock)).toString('utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone'
    throw new DocumentStoreIoError(lock, 'read the lock file', err)
  }
  const pid = /^(\d+)\n?$/.exec(text)
  return pid === null ? undefined : Number(pid[1])
}

/** Removes the lock file taken by {@link acquireDirectoryLock}. */
export async function releaseDirectoryLock(fs: StoreFileSystem, lock: string): Promise<void> {
  HELD.delete(resolve(lock))
  try {
    await fs.unlink(lock)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DocumentStoreIoError(lock, 'release the lock', err)
  }
}
