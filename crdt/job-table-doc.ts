import * as Automerge from '@automerge/automerge'

/**
 * The job table document every peer holds.
 *
 * @remarks One append-only list of signed records. Every container is created by a
 * genesis change that each peer computes identically (fixed actor, time 0), so no two
 * peers ever create the same container concurrently, which would make Automerge keep
 * one of them and silently drop the other's records. Renewals are never written here:
 * the document grows with transitions, not with time.
 */
export interface JobTableDoc {
  v: number
  log: Uint8Array[]
}

export type JobTable = Automerge.Doc<JobTableDoc>

const GENESIS_ACTOR = '00'.repeat(16)

/** The shared genesis change's document (same heads on every peer). */
function genesis(): JobTable {
  return Automerge.change(
    Automerge.init<JobTableDoc>({ actor: GENESIS_ACTOR }),
    { time: 0, message: 'genesis' },
    (d) => {
      d.v = 1
      d.log = []
    },
  )
}

/**
 * A new, empty job table for one writer.
 * @param actor - hex Automerge actor id (one per peer, per process incarnation is safest); random when absent.
 */
export function createJobTable(actor?: string): JobTable {
  return Automerge.clone(genesis(), actor === undefined ? undefined : { actor })
}

/** Largest change a peer accepts (`checkChange`), bytes. */
export const MAX_CHANGE_BYTES = 1024 * 1024
/** Most ops (= records) in one change a peer accepts (`checkChange`). */
export const MAX_CHANGE_OPS = 10_000
// What one change of appendRecords may carry: room is left for the change's own framing.
const CHUNK_BYTES = MAX_CHANGE_BYTES / 2
const CHUNK_RECORDS = MAX_CHANGE_OPS / 2

/**
 * Appends signed record bytes: one change, or several when they would not fit in one
 * change that peers accept (`MAX_CHANGE_BYTES`, `MAX_CHANGE_OPS`). Returns `doc`
 * unchanged when `records` is empty.
 */
export function appendRecords(doc: JobTable, records: readonly Uint8Array[], time?: number): JobTable {
  const opts = time === undefined ? {} : { time: Math.floor(time / 1000) }
  let out = doc
  for (let i = 0; i < records.length; ) {
    let end = i
    let bytes = 0
    while (end < records.length && end - i < CHUNK_RECORDS && (end === i || bytes + records[end].length <= CHUNK_BYTES))
      bytes += records[end++].length
    const chunk = records.slice(i, end)
    out = Automerge.change(out, opts, (d) => {
      if (!Array.isArray(d.log)) return
      // Copied: Automerge refuses values that belong to another document.
      for (const r of chunk) d.log.push(Uint8Array.from(r))
    })
    i = end
  }
  return out
}

/** The raw log, tolerating a document whose shape someone broke. */
export function recordsOf(doc: JobTable): readonly unknown[] {
  const log = (doc as { log?: unknown }).log
  return Array.isArray(log) ? log : []
}

/** Loads a saved job table. A peer's actor id must be fresh for each incarnation (see `createJobTable`). */
export function loadJobTable(bytes: Uint8Array, actor?: string): JobTable {
  return Automerge.load<JobTableDoc>(bytes, actor === undefined ? undefined : { actor })
}

/** Saves a job table to bytes. */
export function saveJobTable(doc: JobTable): Uint8Array {
  return Automerge.save(doc)
}
