import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { acquireDirectoryLock, releaseDirectoryLock } from './directory-lock.ts'
import type { DocumentStore, DocumentStoreCallOptions, StoredDocument } from './document-store.ts'
import {
  decodeEntry,
  type EntryKind,
  encodeEntry,
  entryFileName,
  parseEntryFileName,
  seqPrefixOf,
} from './entry-file.ts'
import { DocumentStoreClosedError, DocumentStoreIoError } from './errors.ts'
import { NODE_STORE_FILE_SYSTEM, type StoreFileSystem } from './store-file-system.ts'

/** What a {@link FileDocumentStore} uses. */
export interface FileDocumentStoreComponents {
  /** @default `node:fs/promises` */
  fs?: StoreFileSystem
}

/** Options of a {@link FileDocumentStore}. */
export interface FileDocumentStoreInit {
  /** Most chunks one group commit writes into one file. @default 1024 */
  maxBatchChunks?: number
  /** Most payload bytes one group commit writes into one file (a bigger single chunk still goes alone). @default 4 MiB */
  maxBatchBytes?: number
}

/** The defaults of {@link FileDocumentStoreInit}. */
export const DEFAULT_FILE_DOCUMENT_STORE_INIT: Required<FileDocumentStoreInit> = {
  maxBatchChunks: 1024,
  maxBatchBytes: 4 * 1024 * 1024,
}

/** Prefix of the files written before their rename; a leftover one is a crash's and is removed. */
const TEMP_PREFIX = '.tmp-'
/** Suffix given to entry files that fail validation (kept for inspection, never loaded). */
const CORRUPT_SUFFIX = '.corrupt'

type Op =
  | { kind: 'append'; chunk: Uint8Array; done: Settle<void>; signal?: AbortSignal; onAbort?: () => void }
  | { kind: 'compact'; snapshot: Uint8Array; done: Settle<void>; signal?: AbortSignal; onAbort?: () => void }
  | { kind: 'load'; report: boolean; done: Settle<StoredDocument>; signal?: AbortSignal; onAbort?: () => void }

interface Settle<T> {
  resolve(value: T): void
  reject(err: unknown): void
}

interface LiveEntry {
  name: string
  seq: number
}

/**
 * A {@link DocumentStore} in a directory (e.g. `DATA_DIR/table`), one file per entry.
 *
 * @remarks
 * - Entries: `<seq>.chunks` holds one or more appended chunks, `<seq>.snapshot` one compaction
 *   snapshot covering every entry with a smaller sequence number. Each file carries its kind,
 *   sequence number, chunk lengths and a sha256 of all of it, so a torn or garbage file is
 *   detected on load, counted in `skipped` and renamed `*.corrupt`. Other names are left alone.
 * - Durability: every file is written to a `.tmp-*` file, fsynced, renamed, and the directory is
 *   fsynced before the call resolves. A leftover temp file is a crash's: removed on load.
 * - Group commit: appends made in one synchronous run, or queued behind a write in progress,
 *   go into one file with one fsync; each call still resolves only once its own chunk is
 *   durable, and order is call order. A caller that awaits every append before making the next
 *   pays two fsyncs each (~100 appends/s on this lab's disks); issuing a run of appends and
 *   awaiting them together shares them.
 * - A failed write rejects the calls it held with {@link DocumentStoreIoError} naming the entry;
 *   the store stays usable (a later write may succeed, e.g. once space is freed).
 * - Compaction writes the snapshot durably before removing older entries; a load that finds
 *   older entries next to a valid snapshot (a crash mid-compaction) removes them.
 * - The directory (created 0700 if missing) is locked with a `LOCK` file holding the pid,
 *   taken on the first call; `close()` releases it. A second store on one directory fails
 *   with {@link DocumentStoreLockedError}.
 * - `size()` counts what is durable: the chunks a load would return and their payload bytes
 *   (a snapshot is one entry), as of the last load plus the writes completed since. Before the
 *   first call completes it is zero.
 */
export class FileDocumentStore implements DocumentStore {
  readonly #dir: string
  readonly #fs: StoreFileSystem
  readonly #init: Required<FileDocumentStoreInit>
  readonly #queue: Op[] = []
  #running = false
  #drained: Promise<void> = Promise.resolve()
  #lock: string | undefined
  #closing: Promise<void> | undefined
  /** Next sequence number; undefined until the directory has been scanned. */
  #nextSeq: number | undefined
  #live: LiveEntry[] = []
  #bytes = 0
  #entries = 0
  #unreportedSkips = 0
  /** What `open()` scanned, kept for the load that usually follows it. */
  #openedScan: Uint8Array[] | undefined

  /**
   * @param dir - the store's directory; created (mode 0700) on the first call if missing.
   */
  constructor(dir: string, components: FileDocumentStoreComponents = {}, init: FileDocumentStoreInit = {}) {
    this.#dir = dir
    this.#fs = components.fs ?? NODE_STORE_FILE_SYSTEM
    this.#init = { ...DEFAULT_FILE_DOCUMENT_STORE_INIT, ...init }
  }

  /** The store's directory. */
  get dir(): string {
    return this.#dir
  }

  /**
   * Creates the directory if missing, takes its lock and scans it, so a peer can fail at start
   * rather than on its first write. Optional: every other call opens the store first. Idempotent.
   * @throws DocumentStoreLockedError when another live store holds the directory.
   */
  async open(opts: DocumentStoreCallOptions = {}): Promise<void> {
    await this.#enqueue<StoredDocument>((done) => ({ kind: 'load', report: false, done, signal: opts.signal }))
  }

  /** Scans the directory (validating every entry it returns) and returns what is durable. */
  load(opts: DocumentStoreCallOptions = {}): Promise<StoredDocument> {
    return this.#enqueue<StoredDocument>((done) => ({ kind: 'load', report: true, done, signal: opts.signal }))
  }

  /** Appends a copy of `chunk`; resolves once it is durable (see the class remarks). */
  append(chunk: Uint8Array, opts: DocumentStoreCallOptions = {}): Promise<void> {
    const copy = chunk.slice()
    return this.#enqueue<void>((done) => ({ kind: 'append', chunk: copy, done, signal: opts.signal }))
  }

  /** Replaces everything stored by a copy of `snapshot`; durable snapshot first, then removal of the rest. */
  compact(snapshot: Uint8Array, opts: DocumentStoreCallOptions = {}): Promise<void> {
    const copy = snapshot.slice()
    return this.#enqueue<void>((done) => ({ kind: 'compact', snapshot: copy, done, signal: opts.signal }))
  }

  /** Durable chunks (a snapshot counts as one) and their payload bytes (see the class remarks). */
  size(): { bytes: number; entries: number } {
    return { bytes: this.#bytes, entries: this.#entries }
  }

  /** Waits for every call made before it, then releases the lock; later calls are refused. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#drained
      const lock = this.#lock
      this.#lock = undefined
      if (lock !== undefined) await releaseDirectoryLock(this.#fs, lock)
    })()
    return this.#closing
  }

  #enqueue<T>(make: (done: Settle<T>) => Op): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#closing !== undefined) return reject(new DocumentStoreClosedError(this.#dir))
      const op = make({ resolve, reject } as Settle<T>)
      const signal = op.signal
      if (signal?.aborted) return reject(signal.reason)
      if (signal !== undefined) {
        op.onAbort = () => {
          const i = this.#queue.indexOf(op)
          if (i < 0) return // already under way: it completes
          this.#queue.splice(i, 1)
          reject(signal.reason)
        }
        signal.addEventListener('abort', op.onAbort, { once: true })
      }
      this.#queue.push(op)
      if (!this.#running) {
        this.#running = true
        this.#drained = this.#drain()
      }
    })
  }

  #take(): Op {
    const op = this.#queue.shift()!
    if (op.onAbort !== undefined) op.signal?.removeEventListener('abort', op.onAbort)
    return op
  }

  async #drain(): Promise<void> {
    // One microtask's wait lets every append made in the same synchronous run share the first
    // file; after that, appends made while a write is under way queue up behind it and go
    // together into the next one. No timer: a lone append is written at once.
    await undefined
    while (this.#queue.length > 0) {
      const op = this.#take()
      if (op.kind === 'append') {
        const batch = [op]
        let bytes = op.chunk.length
        while (batch.length < this.#init.maxBatchChunks) {
          const next = this.#queue[0]
          if (next?.kind !== 'append' || bytes + next.chunk.length > this.#init.maxBatchBytes) break
          batch.push(next)
          bytes += next.chunk.length
          this.#take()
        }
        try {
          await this.#appendBatch(batch.map((a) => a.chunk))
          for (const a of batch) a.done.resolve()
        } catch (err) {
          for (const a of batch) a.done.reject(err)
        }
      } else if (op.kind === 'compact') {
        try {
          await this.#compact(op.snapshot)
          op.done.resolve()
        } catch (err) {
          op.done.reject(err)
        }
      } else {
        try {
          op.done.resolve(await this.#load(op.signal, op.report))
        } catch (err) {
          op.done.reject(err)
        }
      }
    }
    this.#running = false
  }

  async #ensureOpen(): Promise<void> {
    if (this.#lock !== undefined) return
    await this.#io(this.#dir, 'create the store directory', () =>
      this.#fs.mkdir(this.#dir, { recursive: true, mode: 0o700 }),
    )
    this.#lock = await acquireDirectoryLock(this.#fs, this.#dir)
  }

  async #load(signal: AbortSignal | undefined, report: boolean): Promise<StoredDocument> {
    await this.#ensureOpen()
    // `open()` then `load()` (a peer's start) reads the directory once: nothing can change it in
    // between but this store's own writes, which drop the kept result.
    const chunks = this.#openedScan ?? (await this.#scan(signal))
    this.#openedScan = report ? undefined : chunks
    const skipped = this.#unreportedSkips
    // `skipped` counts what scans found since the last load reported, so an `open()` or a first
    // append (which scan too) does not hide corrupt entries from the load that follows.
    if (report) this.#unreportedSkips = 0
    return { chunks, skipped }
  }

  async #appendBatch(chunks: Uint8Array[]): Promise<void> {
    this.#openedScan = undefined
    await this.#ensureOpen()
    if (this.#nextSeq === undefined) await this.#scan(undefined)
    const seq = this.#nextSeq!
    this.#nextSeq = seq + chunks.length
    const name = entryFileName('chunks', seq)
    await this.#writeDurably(name, encodeEntry('chunks', seq, chunks))
    this.#live.push({ name, seq })
    this.#entries += chunks.length
    for (const c of chunks) this.#bytes += c.length
  }

  async #compact(snapshot: Uint8Array): Promise<void> {
    this.#openedScan = undefined
    await this.#ensureOpen()
    if (this.#nextSeq === undefined) await this.#scan(undefined)
    const seq = this.#nextSeq!
    this.#nextSeq = seq + 1
    const name = entryFileName('snapshot', seq)
    await this.#writeDurably(name, encodeEntry('snapshot', seq, [snapshot]))
    const older = this.#live
    this.#live = [{ name, seq }]
    this.#entries = 1
    this.#bytes = snapshot.length
    // The snapshot is durable: from here on a crash leaves older entries that a load removes.
    await this.#removeEntries(older.map((e) => e.name))
  }

  async #removeEntries(names: readonly string[]): Promise<void> {
    if (names.length === 0) return
    for (const name of names) await this.#unlinkIfPresent(join(this.#dir, name), 'remove an old entry')
    await this.#syncDir()
  }

  /** Reads and validates the directory; sets the sequence counter, the live entries and `size()`. */
  async #scan(signal: AbortSignal | undefined): Promise<Uint8Array[]> {
    const names = await this.#io(this.#dir, 'list the store directory', () => this.#fs.readdir(this.#dir))
    let maxSeq = 0
    const snapshots: LiveEntry[] = []
    const chunkFiles: LiveEntry[] = []
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX)) {
        await this.#unlinkIfPresent(join(this.#dir, name), 'remove a leftover temp file')
        continue
      }
      const prefix = seqPrefixOf(name)
      if (prefix !== undefined) maxSeq = Math.max(maxSeq, prefix)
      const parsed = parseEntryFileName(name)
      if (parsed === undefined) continue
      ;(parsed.kind === 'snapshot' ? snapshots : chunkFiles).push({ name, seq: parsed.seq })
    }
    snapshots.sort((a, b) => b.seq - a.seq)
    chunkFiles.sort((a, b) => a.seq - b.seq)

    const stale: string[] = []
    const live: LiveEntry[] = []
    const chunks: Uint8Array[] = []
    let base = 0
    for (const s of snapshots) {
      if (base > 0) {
        stale.push(s.name)
        continue
      }
      signal?.throwIfAborted()
      const payload = await this.#readEntry(s, 'snapshot')
      if (payload === undefined) continue
      base = s.seq
      live.push(s)
      chunks.push(payload[0])
    }
    for (const c of chunkFiles) {
      if (c.seq < base) {
        stale.push(c.name)
        continue
      }
      signal?.throwIfAborted()
      const payload = await this.#readEntry(c, 'chunks')
      if (payload === undefined) continue
      maxSeq = Math.max(maxSeq, c.seq + payload.length - 1)
      live.push(c)
      chunks.push(...payload)
    }
    // Only stale entries next to a valid snapshot are removed: that finishes an interrupted compaction.
    await this.#removeEntries(stale)
    this.#nextSeq = maxSeq + 1
    this.#live = live
    this.#entries = chunks.length
    this.#bytes = chunks.reduce((n, c) => n + c.length, 0)
    return chunks
  }

  /** An entry's chunks, or undefined when it is invalid (then counted and moved aside) or vanished. */
  async #readEntry(entry: LiveEntry, kind: EntryKind): Promise<Uint8Array[] | undefined> {
    const path = join(this.#dir, entry.name)
    let bytes: Uint8Array
    try {
      bytes = await this.#fs.readFile(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      this.#unreportedSkips++
      return undefined // unreadable (EACCES, EISDIR, EIO): skipped, left where it is
    }
    const chunks = decodeEntry(bytes, kind, entry.seq)
    if (chunks !== undefined) return chunks
    this.#unreportedSkips++
    await this.#io(path, 'move a corrupt entry aside', () => this.#fs.rename(path, path + CORRUPT_SUFFIX))
    return undefined
  }

  /** Temp file, write, fsync, close, rename, fsync of the directory. */
  async #writeDurably(name: string, bytes: Uint8Array): Promise<void> {
    const path = join(this.#dir, name)
    const tmp = join(this.#dir, `${TEMP_PREFIX}${name}-${process.pid}-${randomBytes(4).toString('hex')}`)
    try {
      const fh = await this.#fs.open(tmp, 'wx', 0o600)
      try {
        await fh.writeFile(bytes)
        await fh.sync()
      } finally {
        await fh.close()
      }
      await this.#fs.rename(tmp, path)
    } catch (err) {
      await this.#fs.unlink(tmp).catch(() => {})
      throw new DocumentStoreIoError(path, 'write the entry', err)
    }
    await this.#syncDir()
  }

  async #syncDir(): Promise<void> {
    await this.#io(this.#dir, 'fsync the store directory', async () => {
      const fh = await this.#fs.open(this.#dir, 'r')
      try {
        await fh.sync()
      } finally {
        await fh.close()
      }
    })
  }

  async #unlinkIfPresent(path: string, action: string): Promise<void> {
    try {
      await this.#fs.unlink(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DocumentStoreIoError(path, action, err)
    }
  }

  async #io<T>(path: string, action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof DocumentStoreIoError) throw err
      throw new DocumentStoreIoError(path, action, err)
    }
  }
}
