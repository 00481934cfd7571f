import * as Automerge from '@automerge/automerge'

/**
 * Room a simulated peer's document takes in Automerge's WebAssembly heap, per job (about
 * 14 KiB, measured at 50 peers x 1,000 jobs: ~700 MB of heap).
 */
export const HEAP_BYTES_PER_PEER_JOB = 14 * 1024
/** Largest reservation (larger ones fail inside Automerge's allocator, and cost their size in RSS). */
export const MAX_HEAP_RESERVATION = 1536 * 2 ** 20

let reserved = 0

/**
 * Grows Automerge's WebAssembly heap to at least `bytes` now, in one step.
 *
 * @remarks The simulator runs every peer's document in one WebAssembly instance, whose
 * memory grows in small steps as the documents grow (Rust's allocator asks for what it
 * needs, a few 64 KiB pages at a time). Each time the memory grows, V8 wraps it in a new
 * ArrayBuffer and counts all of it as newly allocated external memory. That starts a young
 * collection ("external memory pressure"), which promotes what it finds alive and so also
 * feeds the major collector. At 50 peers x 1,000 jobs that was 727 collections, and half
 * of the run's CPU time (BENCHMARKS.md, session 6).
 *
 * One allocation of the expected size, freed at once, grows the memory in one step, and
 * the allocator serves the documents from the space it keeps. The cost is that space, in
 * RSS from the start (the allocation is written). A real node holds one document and has
 * no such need. Best effort: a reservation the allocator refuses changes nothing. Repeated
 * calls only ever grow the reservation.
 */
export function reserveAutomergeHeap(bytes: number): void {
  const want = Math.min(Math.max(0, Math.floor(bytes)), MAX_HEAP_RESERVATION)
  if (want <= reserved) return
  const backend = Automerge.getBackend(Automerge.init())
  try {
    // Automerge copies its input into its own heap before it parses it; zeros do not parse.
    backend.loadIncremental(new Uint8Array(want))
  } catch {
    // expected
  } finally {
    backend.free()
  }
  reserved = want
}
