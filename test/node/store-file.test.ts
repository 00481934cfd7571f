import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { chmod, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import {
  DocumentStoreIoError,
  DocumentStoreLockedError,
  decodeEntry,
  encodeEntry,
  entryFileName,
  FileDocumentStore,
  NODE_STORE_FILE_SYSTEM,
  parseEntryFileName,
  type StoreFileHandle,
  type StoreFileSystem,
} from '../../node/store/index.ts'
import { testChunk } from '../helpers/document-store-suite.ts'

/** A fresh temp dir removed after the test, also on failure; returns the store dir inside it. */
async function tempStoreDir(t: TestContext): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'cis490-store-file-'))
  t.after(() => rm(root, { recursive: true, force: true }))
  return join(root, 'table')
}

/** A store closed after the test. */
function storeAt(t: TestContext, dir: string, fs?: StoreFileSystem): FileDocumentStore {
  const store = new FileDocumentStore(dir, { fs })
  t.after(() => store.close().catch(() => {}))
  return store
}

function plain(chunks: readonly Uint8Array[]): Uint8Array[] {
  return chunks.map((c) => Uint8Array.from(c))
}

type FsCall = { op: string; path: string; to?: string }

/** Wraps the real file system, recording every call (file handles record their path). */
function recordingFs(log: FsCall[]): StoreFileSystem {
  const real = NODE_STORE_FILE_SYSTEM
  return {
    mkdir: (path, opts) => real.mkdir(path, opts),
    readdir: (path) => real.readdir(path),
    readFile: (path) => real.readFile(path),
    link: (a, b) => real.link(a, b),
    rename: async (from, to) => {
      log.push({ op: 'rename', path: from, to })
      await real.rename(from, to)
    },
    unlink: async (path) => {
      log.push({ op: 'unlink', path })
      await real.unlink(path)
    },
    open: async (path, flags, mode) => {
      const fh = await real.open(path, flags, mode)
      log.push({ op: 'open', path })
      const wrapped: StoreFileHandle = {
        writeFile: async (data) => {
          log.push({ op: 'write', path })
          await fh.writeFile(data)
        },
        sync: async () => {
          await fh.sync()
          log.push({ op: 'sync', path })
        },
        close: async () => {
          await fh.close()
          log.push({ op: 'close', path })
        },
      }
      return wrapped
    },
  }
}

/**
 * The real file system until `crashAt(call)` says yes: from that call on every call hangs forever,
 * as a process frozen at that instant (then the test removes the lock, as the dead pid's would be stale).
 */
function crashingFs(crashAt: (call: FsCall) => boolean): StoreFileSystem & { crashed: () => boolean } {
  let crashed = false
  const hang = new Promise<never>(() => {})
  const log: FsCall[] = []
  const inner = recordingFs(log)
  const gate = async <T>(call: FsCall, run: () => Promise<T>): Promise<T> => {
    if (crashed || crashAt(call)) {
      crashed = true
      return hang
    }
    return run()
  }
  return {
    crashed: () => crashed,
    mkdir: (p, o) => gate({ op: 'mkdir', path: p }, () => inner.mkdir(p, o)),
    readdir: (p) => gate({ op: 'readdir', path: p }, () => inner.readdir(p)),
    readFile: (p) => gate({ op: 'readFile', path: p }, () => inner.readFile(p)),
    link: (a, b) => gate({ op: 'link', path: a, to: b }, () => inner.link(a, b)),
    rename: (a, b) => gate({ op: 'rename', path: a, to: b }, () => inner.rename(a, b)),
    unlink: (p) => gate({ op: 'unlink', path: p }, () => inner.unlink(p)),
    open: (p, f, m) =>
      gate({ op: 'open', path: p }, async () => {
        const fh = await inner.open(p, f, m)
        return {
          writeFile: (d) => gate({ op: 'write', path: p }, () => fh.writeFile(d)),
          sync: () => gate({ op: 'sync', path: p }, () => fh.sync()),
          close: () => gate({ op: 'close', path: p }, () => fh.close()),
        }
      }),
  }
}

/** Waits (up to 20 s) until `fs` has crashed; returns whether `p` had settled by then (it must not have). */
async function settledBeforeCrash(fs: { crashed: () => boolean }, p: Promise<unknown>): Promise<boolean> {
  let settled = false
  p.then(
    () => {
      settled = true
    },
    () => {
      settled = true
    },
  )
  const deadline = Date.now() + 20_000
  while (!fs.crashed() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  assert.ok(fs.crashed(), 'the crash point was reached')
  await new Promise((r) => setTimeout(r, 20))
  return settled
}

/** A store that was frozen mid-call: its process is gone, so its lock is stale. */
async function abandon(dir: string): Promise<void> {
  await rm(join(dir, 'LOCK'), { force: true })
}

describe('FileDocumentStore files', () => {
  it('creates a missing directory with mode 0700 and names the path when it cannot', async (t) => {
    const dir = await tempStoreDir(t)
    const nested = join(dir, 'a', 'b')
    const store = storeAt(t, nested)
    await store.append(testChunk(1))
    assert.equal((await stat(nested)).mode & 0o777, 0o700)

    const file = join(dir, 'plain-file')
    await writeFile(file, 'x')
    const bad = storeAt(t, join(file, 'table'))
    await assert.rejects(bad.load(), (err: Error) => err instanceof DocumentStoreIoError && err.message.includes(file))
  })

  it('fails with the path on permission denied', async (t) => {
    if (process.getuid?.() === 0) return t.skip('root ignores directory permissions')
    const dir = await tempStoreDir(t)
    const store = storeAt(t, dir)
    await store.append(testChunk(1))
    await store.close()
    await chmod(dir, 0o000)
    t.after(() => chmod(dir, 0o700))
    await assert.rejects(new FileDocumentStore(dir).load(), (err: Error) => {
      assert.ok(err instanceof DocumentStoreIoError)
      assert.match(err.message, new RegExp(dir))
      return true
    })
  })

  it('names the path and code of an I/O error that makes the store unusable (injected EACCES)', async (t) => {
    const dir = await tempStoreDir(t)
    const denied = Object.assign(new Error('permission denied'), { code: 'EACCES' })
    const fs: StoreFileSystem = { ...NODE_STORE_FILE_SYSTEM, readdir: () => Promise.reject(denied) }
    const store = storeAt(t, dir, fs)
    await assert.rejects(store.load(), (err: Error) => {
      assert.ok(err instanceof DocumentStoreIoError)
      assert.equal(err.code, 'EACCES')
      assert.equal(err.path, dir)
      assert.equal(err.message, `${dir}: cannot list the store directory: EACCES`)
      return true
    })
  })

  it('rejects the appends of a failed write (ENOSPC) with the path, removes its temp file and goes on', async (t) => {
    const dir = await tempStoreDir(t)
    let failNext = false
    const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
    const fs: StoreFileSystem = {
      ...NODE_STORE_FILE_SYSTEM,
      open: async (path, flags, mode) => {
        const fh = await NODE_STORE_FILE_SYSTEM.open(path, flags, mode)
        return {
          writeFile: (d) => (failNext && basename(path).startsWith('.tmp-') ? Promise.reject(full) : fh.writeFile(d)),
          sync: () => fh.sync(),
          close: () => fh.close(),
        }
      },
    }
    const store = storeAt(t, dir, fs)
    await store.append(testChunk(1))
    failNext = true
    await assert.rejects(store.append(testChunk(2)), (err: Error) => {
      assert.ok(err instanceof DocumentStoreIoError && err.code === 'ENOSPC')
      assert.ok(err.message.startsWith(join(dir, entryFileName('chunks', 2))))
      return true
    })
    failNext = false
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('.tmp-')),
      [],
    )
    await store.append(testChunk(3))
    assert.deepEqual(store.size(), { bytes: sum(1, 3), entries: 2 })
    assert.deepEqual(await store.load(), { chunks: [testChunk(1), testChunk(3)], skipped: 0 })
  })

  it('fsyncs each entry before its rename and the directory before the append resolves', async (t) => {
    const dir = await tempStoreDir(t)
    const log: FsCall[] = []
    const store = storeAt(t, dir, recordingFs(log))
    await store.append(testChunk(0))
    const acknowledged: number[] = []
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => store.append(testChunk(i + 1)).then(() => acknowledged.push(log.length))),
    )
    await store.compact(testChunk(99, 64))
    const renames = log.flatMap((c, i) => (c.op === 'rename' ? [i] : []))
    assert.ok(renames.length >= 2)
    for (const r of renames) {
      const tmp = log[r].path
      const syncAt = log.findIndex((c) => c.op === 'sync' && c.path === tmp)
      const writeAt = log.findIndex((c) => c.op === 'write' && c.path === tmp)
      assert.ok(writeAt >= 0 && writeAt < syncAt && syncAt < r, `${basename(tmp)}: write, fsync, then rename`)
      assert.equal(basename(tmp).startsWith('.tmp-'), true)
      const dirSync = log.findIndex((c, i) => i > r && c.op === 'sync' && c.path === dir)
      assert.ok(dirSync > r, `${log[r].to}: directory fsynced after the rename`)
    }
    // Every acknowledgement came after its batch's directory fsync, and batches were grouped.
    for (const at of acknowledged) assert.equal(log[at - 1].op === 'close' && log[at - 1].path === dir, true)
    const chunkFiles = renames.filter((r) => log[r].to!.endsWith('.chunks')).length
    assert.ok(chunkFiles < 20, `41 appends in ${chunkFiles} files (group commit)`)
    // Compaction: the snapshot is durable (renamed, directory fsynced) before any old entry goes.
    const snapRename = log.findIndex((c) => c.op === 'rename' && c.to!.endsWith('.snapshot'))
    const firstUnlink = log.findIndex((c) => c.op === 'unlink' && c.path.endsWith('.chunks'))
    const snapDirSync = log.findIndex((c, i) => i > snapRename && c.op === 'sync' && c.path === dir)
    assert.ok(snapRename >= 0 && snapRename < snapDirSync && snapDirSync < firstUnlink)
    assert.deepEqual(plain((await store.load()).chunks), [testChunk(99, 64)])
  })

  it('groups appends made together into one file, within maxBatchChunks and maxBatchBytes', async (t) => {
    const dir = await tempStoreDir(t)
    const store = storeAt(t, dir)
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.append(testChunk(i))))
    assert.deepEqual((await readdir(dir)).sort(), ['0000000000000001.chunks', 'LOCK'])
    await store.close()

    const small = new FileDocumentStore(join(dir, 'small'), {}, { maxBatchChunks: 4, maxBatchBytes: 100 })
    t.after(() => small.close())
    const chunks = [...Array.from({ length: 10 }, (_, i) => testChunk(i, 10)), testChunk(10, 500), testChunk(11, 10)]
    await Promise.all(chunks.map((c) => small.append(c)))
    // 4 + 4 + 2 by count, the 500-byte chunk alone (over maxBatchBytes), then the last.
    const files = (await readdir(join(dir, 'small'))).filter((n) => n.endsWith('.chunks')).sort()
    assert.deepEqual(
      files,
      [1, 5, 9, 11, 12].map((seq) => entryFileName('chunks', seq)),
    )
    assert.deepEqual(plain((await small.load()).chunks), plain(chunks))
  })

  it('resolves each grouped append only once the file holding it is durable', async (t) => {
    const dir = await tempStoreDir(t)
    const log: FsCall[] = []
    const store = storeAt(t, dir, recordingFs(log))
    let durable = 0
    const counted = new Set<number>()
    const durableNow = () => {
      // Chunks in entry files renamed into place and followed by a directory fsync.
      for (let i = 0; i < log.length; i++) {
        if (log[i].op !== 'rename' || counted.has(i)) continue
        if (!log.some((c, j) => j > i && c.op === 'sync' && c.path === dir)) continue
        const name = basename(log[i].to!)
        const parsed = parseEntryFileName(name)!
        durable += decodeEntry(readFileSync(log[i].to!), parsed.kind, parsed.seq)!.length
        counted.add(i)
      }
      return durable
    }
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        store.append(testChunk(i)).then(() => assert.ok(durableNow() >= i + 1, `append ${i} acknowledged early`)),
      ),
    )
    assert.equal(durableNow(), 200)
  })

  it('ignores and removes a temp file left by a crash between write and rename', async (t) => {
    const dir = await tempStoreDir(t)
    const fs = crashingFs((c) => c.op === 'rename' && c.to!.endsWith(entryFileName('chunks', 3)))
    const store = new FileDocumentStore(dir, { fs })
    await store.append(testChunk(1))
    await store.append(testChunk(2))
    const lost = store.append(testChunk(3))
    assert.equal(await settledBeforeCrash(fs, lost), false, 'never acknowledged')
    const temps = (await readdir(dir)).filter((n) => n.startsWith('.tmp-'))
    assert.equal(temps.length, 1)
    await abandon(dir)

    const after = storeAt(t, dir)
    assert.deepEqual(await after.load(), { chunks: [testChunk(1), testChunk(2)], skipped: 0 })
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('.tmp-')),
      [],
    )
    await after.append(testChunk(4))
    assert.deepEqual(plain((await after.load()).chunks), [testChunk(1), testChunk(2), testChunk(4)])
  })

  it('skips a torn entry (truncated file), moves it aside and keeps going', async (t) => {
    const dir = await tempStoreDir(t)
    const store = storeAt(t, dir)
    for (let i = 1; i <= 3; i++) await store.append(testChunk(i))
    await store.close()
    const last = join(dir, entryFileName('chunks', 3))
    await truncate(last, (await stat(last)).size - 5)

    const again = storeAt(t, dir)
    assert.deepEqual(await again.load(), { chunks: [testChunk(1), testChunk(2)], skipped: 1 })
    const names = await readdir(dir)
    assert.ok(names.includes(`${entryFileName('chunks', 3)}.corrupt`))
    await again.append(testChunk(4))
    assert.deepEqual(await again.load(), { chunks: [testChunk(1), testChunk(2), testChunk(4)], skipped: 0 })
    assert.deepEqual(again.size(), { bytes: sum(1, 2, 4), entries: 3 })
  })

  it('skips garbage under an entry name and a valid entry under the wrong name; leaves other files alone', async (t) => {
    const dir = await tempStoreDir(t)
    const store = storeAt(t, dir)
    await store.append(testChunk(1))
    await store.close()
    await writeFile(join(dir, entryFileName('chunks', 7)), Buffer.from('garbage, not an entry'))
    await writeFile(join(dir, entryFileName('snapshot', 8)), new Uint8Array(0))
    await writeFile(join(dir, entryFileName('chunks', 9)), encodeEntry('chunks', 2, [testChunk(5)]))
    await writeFile(join(dir, 'notes.txt'), 'an operator left this here')

    const again = storeAt(t, dir)
    assert.deepEqual(await again.load(), { chunks: [testChunk(1)], skipped: 3 })
    const names = await readdir(dir)
    assert.ok(names.includes('notes.txt'))
    assert.equal(names.filter((n) => n.endsWith('.corrupt')).length, 3)
    await again.append(testChunk(2)) // a fresh sequence number: not any of the corrupt ones
    await again.close()
    assert.deepEqual(await storeAt(t, dir).load(), { chunks: [testChunk(1), testChunk(2)], skipped: 0 })
  })

  it('open() then load() reads each entry once; a write in between makes load read again', async (t) => {
    const dir = await tempStoreDir(t)
    const seed = storeAt(t, dir)
    await seed.append(testChunk(1))
    await seed.compact(testChunk(2))
    await seed.append(testChunk(3))
    await seed.close()
    const reads: string[] = []
    const fs: StoreFileSystem = {
      ...NODE_STORE_FILE_SYSTEM,
      readFile: (p) => {
        reads.push(basename(p))
        return NODE_STORE_FILE_SYSTEM.readFile(p)
      },
    }
    const store = storeAt(t, dir, fs)
    await store.open()
    await store.open()
    assert.deepEqual(plain((await store.load()).chunks), [testChunk(2), testChunk(3)])
    assert.equal(reads.filter((n) => n.endsWith('.snapshot')).length, 1)
    await store.open()
    await store.append(testChunk(4))
    assert.deepEqual(plain((await store.load()).chunks), [testChunk(2), testChunk(3), testChunk(4)])
    assert.equal(reads.filter((n) => n.endsWith('.snapshot')).length, 3)
  })

  it('reports skipped entries found by an open() or a first append to the next load', async (t) => {
    const dir = await tempStoreDir(t)
    const store = storeAt(t, dir)
    await store.append(testChunk(1))
    await store.close()
    await writeFile(join(dir, entryFileName('chunks', 5)), Buffer.from('torn'))
    const again = storeAt(t, dir)
    await again.open()
    assert.deepEqual(again.size(), { bytes: testChunk(1).length, entries: 1 })
    assert.equal((await again.load()).skipped, 1)
  })

  it('loads the older entries when the newest snapshot is torn', async (t) => {
    const dir = await tempStoreDir(t)
    const store = storeAt(t, dir)
    await store.append(testChunk(1))
    await store.compact(testChunk(10, 50))
    await store.append(testChunk(2))
    await store.close()
    // A snapshot that never became whole (as on a file system that reorders a rename before the data).
    await writeFile(
      join(dir, entryFileName('snapshot', 4)),
      encodeEntry('snapshot', 4, [testChunk(11)]).subarray(0, 30),
    )
    assert.deepEqual(await storeAt(t, dir).load(), { chunks: [testChunk(10, 50), testChunk(2)], skipped: 1 })
  })

  const compactionCrashes: [string, (c: FsCall) => boolean, 'old' | 'snapshot'][] = [
    ['before the snapshot is renamed', (c) => c.op === 'rename' && c.to!.endsWith('.snapshot'), 'old'],
    [
      'after the snapshot rename, before the directory fsync',
      (c) => c.op === 'open' && c.path.endsWith('table'),
      'snapshot',
    ],
    ['before the first old entry is removed', (c) => c.op === 'unlink' && c.path.endsWith('.chunks'), 'snapshot'],
    [
      'after some old entries are removed',
      (() => {
        let n = 0
        return (c: FsCall) => c.op === 'unlink' && c.path.endsWith('.chunks') && ++n === 3
      })(),
      'snapshot',
    ],
  ]
  for (const [when, crashAt, expect] of compactionCrashes) {
    it(`loses nothing on a crash during compaction ${when}`, async (t) => {
      const dir = await tempStoreDir(t)
      const seed = storeAt(t, dir)
      const old = Array.from({ length: 5 }, (_, i) => testChunk(i))
      for (const c of old) await seed.append(c)
      await seed.close()
      let armed = false
      const fs = crashingFs((c) => armed && crashAt(c))
      const store = new FileDocumentStore(dir, { fs })
      await store.load()
      armed = true
      // The snapshot stands for the old chunks (as Automerge.save of a doc made of them would).
      const snapshot = testChunk(1000, 300)
      assert.equal(await settledBeforeCrash(fs, store.compact(snapshot)), false)
      await abandon(dir)

      const after = storeAt(t, dir)
      const loaded = await after.load()
      assert.equal(loaded.skipped, 0)
      if (expect === 'old') assert.deepEqual(plain(loaded.chunks), plain(old))
      else assert.deepEqual(plain(loaded.chunks), [snapshot])
      // The interrupted compaction is finished: no stale entries, no temp files.
      const names = (await readdir(dir)).filter((n) => n !== 'LOCK')
      if (expect === 'snapshot') assert.deepEqual(names, [entryFileName('snapshot', 6)])
      else assert.equal(names.length, 5)
      await after.append(testChunk(77))
      await after.close()
      const final = await storeAt(t, dir).load()
      assert.deepEqual(plain(final.chunks), plain([...(expect === 'old' ? old : [snapshot]), testChunk(77)]))
    })
  }

  it('drops a queued call whose signal aborts before it starts', async (t) => {
    const dir = await tempStoreDir(t)
    const store = storeAt(t, dir)
    const controller = new AbortController()
    const a = store.append(testChunk(1))
    const b = store.append(testChunk(2), { signal: controller.signal })
    const c = store.append(testChunk(3))
    controller.abort(new Error('no longer wanted'))
    await Promise.all([a, c, assert.rejects(b, /no longer wanted/)])
    assert.deepEqual(plain((await store.load()).chunks), [testChunk(1), testChunk(3)])
  })
})

function sum(...ids: number[]): number {
  return ids.reduce((n, i) => n + testChunk(i).length, 0)
}

describe('FileDocumentStore lock', () => {
  it('refuses a second store on one directory, naming the lock and the pid, until the first closes', async (t) => {
    const dir = await tempStoreDir(t)
    const first = storeAt(t, dir)
    await first.append(testChunk(1))
    const second = storeAt(t, dir)
    await assert.rejects(second.load(), (err: Error) => {
      assert.ok(err instanceof DocumentStoreLockedError)
      assert.equal(err.pid, process.pid)
      assert.ok(err.message.includes(join(dir, 'LOCK')) && err.message.includes(String(process.pid)))
      return true
    })
    await first.close()
    assert.deepEqual(plain((await second.load()).chunks), [testChunk(1)])
    assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid))
    await second.close()
    assert.equal((await readdir(dir)).includes('LOCK'), false)
  })

  it('takes over a stale lock: a dead pid, no pid, or our pid held by no store of ours', async (t) => {
    const dir = await tempStoreDir(t)
    const seed = storeAt(t, dir)
    await seed.append(testChunk(1))
    await seed.close()
    const dead = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
    const deadPid = dead.pid!
    await new Promise((r) => dead.once('exit', r))
    // Our own pid with no store of ours holding it: a previous incarnation under a reused pid.
    for (const content of [`${deadPid}\n`, '', 'not a pid', `${process.pid}\n`]) {
      await writeFile(join(dir, 'LOCK'), content)
      const store = storeAt(t, dir)
      assert.deepEqual(plain((await store.load()).chunks), [testChunk(1)])
      assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid))
      await store.close()
    }
  })

  it('refuses a lock held by another live process', async (t) => {
    const dir = await tempStoreDir(t)
    const seed = storeAt(t, dir)
    await seed.load()
    await seed.close()
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' })
    t.after(() => {
      live.kill('SIGKILL')
    })
    await writeFile(join(dir, 'LOCK'), `${live.pid}\n`)
    await assert.rejects(
      storeAt(t, dir).load(),
      (err: Error) => err instanceof DocumentStoreLockedError && err.pid === live.pid,
    )
  })
})
