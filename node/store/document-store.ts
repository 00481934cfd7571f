/** What a peer persists of its job-table document: a snapshot and the incremental chunks appended after it. */
export interface StoredDocument {
  /** The chunks to load, oldest first: the latest valid snapshot (if any) then the valid chunks appended after it. */
  readonly chunks: readonly Uint8Array[]
  /** Entries found torn, garbage or unreadable and skipped (they were never acknowledged as durable). */
  readonly skipped: number
}

/** Options every store call takes. */
export interface DocumentStoreCallOptions {
  /** Aborts the call while it still waits for earlier calls; a write already under way completes. */
  signal?: AbortSignal
}

/**
 * Where a peer persists its job-table document (the injected seam of the peer core).
 *
 * @remarks Two implementations: {@link MemoryDocumentStore} for the simulator and tests,
 * {@link FileDocumentStore} for a real peer's data dir. Both pass `runDocumentStoreTests`.
 */
export interface DocumentStore {
  /** Everything durable; never throws on torn/garbage content (skips it, counts it); throws only on I/O errors
   *  that make the store unusable (e.g. permission denied), with a message naming the path. */
  load(opts?: DocumentStoreCallOptions): Promise<StoredDocument>
  /** Appends one chunk (Automerge change bytes or `saveIncremental` output). Durable when the promise resolves
   *  (file: written to a temp file, fsync, rename, fsync of the directory). Calls are applied in call order even
   *  when not awaited one by one (serialise internally). */
  append(chunk: Uint8Array, opts?: DocumentStoreCallOptions): Promise<void>
  /** Replaces everything stored so far by one snapshot (`Automerge.save` output): durable snapshot first, then the
   *  older entries are removed; a crash at any point leaves a loadable store with no data lost. Also serialised. */
  compact(snapshot: Uint8Array, opts?: DocumentStoreCallOptions): Promise<void>
  /** Bytes and entry count currently stored (so the core can decide when to compact). */
  size(): { bytes: number; entries: number }
  /** Waits for pending writes; idempotent. */
  close(): Promise<void>
}
