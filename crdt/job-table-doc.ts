import * as Automerge from '@automerge/automerge'

/**
 * The job table document every peer holds.
 *
 * @remarks An append-only log of signed records, spread over `LOG_SHARDS` lists (the
 * shards). Every container is created by a genesis change that each peer computes
 * identically (fixed actor, time 0), so no two peers ever create the same container
 * concurrently, which would make Automerge keep one of them and silently drop the other's
 * records. Renewals are never written here: the document grows with transitions, not with
 * time. Derivation does not depend on the order of records (`deriveJobs`), so which shard
 * holds a record does not matter to what it means.
 *
 * Why shards: Automerge applies a batch of changes by walking every op of each list the
 * batch inserts into, reading each value, however few the changes (measured: 1.7 ms for
 * one change into a list of 5,300 records, 0.26 ms when the same records are spread over
 * 64 lists; 3.4 ms in a simulated peer's document of that size). A writer
 * picks the shard from the document's op count (`logShardFor`), so the changes written at
 * about the same time go to the same few small shards, and merges walk those only.
 */
export interface JobTableDoc {
  v: number
  log: Uint8Array[][]
}

export type JobTable = Automerge.Doc<JobTableDoc>

/** The document layout's version (the genesis writes it). */
export const JOB_TABLE_VERSION = 2
/** Lists the log is spread over (all made by the genesis change). */
export const LOG_SHARDS = 1024
/** Ops written into one shard before writers move on to the next (see `logShardFor`). */
export const OPS_PER_SHARD = 32

/** The actor of the genesis change (no other change may be written as it). */
export const GENESIS_ACTOR = '00'.repeat(16)

function makeGenesis(): JobTable {
  return Automerge.change(
    Automerge.init<JobTableDoc>({ actor: GENESIS_ACTOR }),
    { time: 0, message: 'genesis' },
    (d) => {
      d.v = JOB_TABLE_VERSION
      d.log = []
      for (let i = 0; i < LOG_SHARDS; i++) d.log.push([])
    },
  )
}

// Cloned for every new table: loading the genesis change again would cost 35 times as much.
const GENESIS = makeGenesis()

/** The genesis change's hash (the same on every peer). */
export const GENESIS_HASH: string = Automerge.getHeads(GENESIS)[0]

/** Automerge object id of the log, the list of shards (the genesis change makes it). */
export const LOG_LIST_ID: string = Automerge.getObjectId(GENESIS.log) as string

/** Automerge object ids of the log's shards, in the log's order (the genesis change makes them). */
export const LOG_SHARD_IDS: readonly string[] = Object.freeze(
  GENESIS.log.map((shard) => Automerge.getObjectId(shard) as string),
)

/**
 * The shard (its index in the log) a writer appends to when its document holds `ops` ops:
 * the same for writers about in step, moving on every `OPS_PER_SHARD` ops, round the
 * shards in turn.
 */
export function logShardFor(ops: number): number {
  const n = Number.isSafeInteger(ops) && ops > 0 ? ops : 0
  return Math.floor(n / OPS_PER_SHARD) % LOG_SHARDS
}

/**
 * A new, empty job table for one writer.
 * @param actor - hex Automerge actor id (one per peer, per process incarnation is safest); random when absent.
 */
export function createJobTable(actor?: string): JobTable {
  return Automerge.clone(GENESIS, actor === undefined ? undefined : { actor })
}

/** Largest change a peer accepts (`checkChange`), bytes. */
export const MAX_CHANGE_BYTES = 1024 * 1024
/** Most ops (= records) in one change a peer accepts (`checkChange`). */
export const MAX_CHANGE_OPS = 10_000
// What one change of an append may carry: room is left for the change's own framing.
const CHUNK_BYTES = MAX_CHANGE_BYTES / 2
const CHUNK_RECORDS = MAX_CHANGE_OPS / 2

/**
 * How an append of `records` is cut into changes that peers accept (`MAX_CHANGE_BYTES`,
 * `MAX_CHANGE_OPS`): `[start, end)` ranges of `records`, in order, none empty. Each change
 * goes to the shard `logShardFor` gives for the document's op count before it.
 */
export function appendRanges(records: readonly Uint8Array[]): [number, number][] {
  const out: [number, number][] = []
  for (let i = 0; i < records.length; ) {
    let end = i
    let bytes = 0
    while (end < records.length && end - i < CHUNK_RECORDS && (end === i || bytes + records[end].length <= CHUNK_BYTES))
      bytes += records[end++].length
    out.push([i, end])
    i = end
  }
  return out
}

/**
 * Appends signed record bytes: one change, or several when they would not fit in one
 * change that peers accept (`MAX_CHANGE_BYTES`, `MAX_CHANGE_OPS`). Returns `doc`
 * unchanged when `records` is empty.
 */
export function appendRecords(doc: JobTable, records: readonly Uint8Array[], time?: number): JobTable {
  const opts = time === undefined ? {} : { time: Math.floor(time / 1000) }
  let out = doc
  for (const [start, end] of appendRanges(records)) {
    const chunk = records.slice(start, end)
    const shard = logShardFor(Automerge.stats(out).numOps)
    out = Automerge.change(out, opts, (d) => {
      const log = d.log as unknown
      const list = Array.isArray(log) ? (log[shard] as unknown) : undefined
      if (!Array.isArray(list) || Automerge.getObjectId(list) !== LOG_SHARD_IDS[shard]) return
      // Copied: Automerge refuses values that belong to another document.
      for (const r of chunk) list.push(Uint8Array.from(r))
    })
  }
  return out
}

/** The raw log (every shard's entries, shard by shard), tolerating a document whose shape someone broke. */
export function recordsOf(doc: JobTable): readonly unknown[] {
  const log = (doc as { log?: unknown }).log
  if (!Array.isArray(log)) return []
  const out: unknown[] = []
  for (const shard of log as unknown[]) if (Array.isArray(shard)) for (const r of shard) out.push(r)
  return out
}

/** Loads a saved job table. A peer's actor id must be fresh for each incarnation (see `createJobTable`). */
export function loadJobTable(bytes: Uint8Array, actor?: string): JobTable {
  return Automerge.load<JobTableDoc>(bytes, actor === undefined ? undefined : { actor })
}

/** Saves a job table to bytes. */
export function saveJobTable(doc: JobTable): Uint8Array {
  return Automerge.save(doc)
}
