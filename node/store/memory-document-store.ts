import type { DocumentStore, DocumentStoreCallOptions, StoredDocument } from './document-store.ts'
import { DocumentStoreClosedError } from './errors.ts'

/** The data a memory store and the handles `reopen()` makes from it share (what a directory is to files). */
interface MemoryDocumentData {
  chunks: Uint8Array[]
  bytes: number
}

/**
 * A {@link DocumentStore} in memory: the simulator's and the tests' store.
 *
 * @remarks Synchronous effect guarantee: `append` and `compact` change the stored data before
 * they return (the promise they return is already settled), so the deterministic simulator may
 * call them without awaiting and a `load` or `size()` right after sees the write. Cheap for many
 * peers: one `Uint8Array.slice` per stored chunk (callers may reuse their buffers), and `load`
 * returns the stored arrays themselves (callers must not modify them).
 *
 * A crash and restart is `reopen()`: a new handle over the same data, while the old handle
 * rejects every later call with {@link DocumentStoreClosedError} (a stale incarnation writing
 * after its crash is a bug the rejection makes loud).
 */
export class MemoryDocumentStore implements DocumentStore {
  #data: MemoryDocumentData
  #closed = false

  constructor() {
    this.#data = { chunks: [], bytes: 0 }
  }

  /** A new handle over this store's data, as a restarted process would open it; closes this handle. */
  reopen(): MemoryDocumentStore {
    this.#closed = true
    const next = new MemoryDocumentStore()
    next.#data = this.#data
    return next
  }

  /** The stored chunks (the arrays themselves, oldest first); `skipped` is always 0. */
  load(opts: DocumentStoreCallOptions = {}): Promise<StoredDocument> {
    const refused = this.#refusal(opts)
    if (refused !== undefined) return refused
    return Promise.resolve({ chunks: this.#data.chunks.slice(), skipped: 0 })
  }

  /**
   * What `load` resolves to, synchronously (the simulator restarts peers inside one event).
   * @throws DocumentStoreClosedError on a closed handle.
   */
  loadNow(): StoredDocument {
    if (this.#closed) throw new DocumentStoreClosedError('memory document store')
    return { chunks: this.#data.chunks.slice(), skipped: 0 }
  }

  /** Stores a copy of `chunk` before returning (see the class remarks). */
  append(chunk: Uint8Array, opts: DocumentStoreCallOptions = {}): Promise<void> {
    const refused = this.#refusal(opts)
    if (refused !== undefined) return refused
    this.#data.chunks.push(chunk.slice())
    this.#data.bytes += chunk.length
    return Promise.resolve()
  }

  /** Replaces everything stored by a copy of `snapshot` before returning (see the class remarks). */
  compact(snapshot: Uint8Array, opts: DocumentStoreCallOptions = {}): Promise<void> {
    const refused = this.#refusal(opts)
    if (refused !== undefined) return refused
    this.#data.chunks = [snapshot.slice()]
    this.#data.bytes = snapshot.length
    return Promise.resolve()
  }

  /** Payload bytes and chunks stored (a snapshot counts as one chunk). */
  size(): { bytes: number; entries: number } {
    return { bytes: this.#data.bytes, entries: this.#data.chunks.length }
  }

  /** Marks this handle closed (nothing is ever pending); idempotent. */
  close(): Promise<void> {
    this.#closed = true
    return Promise.resolve()
  }

  #refusal(opts: DocumentStoreCallOptions): Promise<never> | undefined {
    if (this.#closed) return Promise.reject(new DocumentStoreClosedError('memory document store'))
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason)
    return undefined
  }
}
