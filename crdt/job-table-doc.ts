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

/** Appends signed record bytes in one change. Returns `doc` unchanged when `records` is empty. */
export function appendRecords(doc: JobTable, records: readonly Uint8Array[], time?: number): JobTable {
  if (records.length === 0) return doc
  const opts = time === undefined ? {} : { time: Math.floor(time / 1000) }
  return Automerge.change(doc, opts, (d) => {
    if (!Array.isArray(d.log)) return
    // Copied: Automerge refuses values that belong to another document.
    for (const r of records) d.log.push(Uint8Array.from(r))
  })
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
