import * as Automerge from '@automerge/automerge'
import {
  GENESIS_ACTOR,
  GENESIS_HASH,
  JOB_TABLE_VERSION,
  LOG_LIST_ID,
  LOG_SHARD_IDS,
  LOG_SHARDS,
  MAX_CHANGE_BYTES,
  MAX_CHANGE_OPS,
} from './job-table-doc.ts'
import { MAX_RECORD_BYTES } from './records.ts'

/**
 * Which Automerge changes a peer merges into its job table.
 *
 * @remarks Fleet members are not trusted, and an Automerge change can do anything to a
 * document: delete records, overwrite them, replace the log. The table is append-only in
 * fact only if every peer refuses, before merging, any change other than the shared
 * genesis change and inserts of byte strings into the log's shard lists. Their object ids
 * are fixed (the genesis change creates them with a fixed actor), so the check needs no
 * document. Deciding whether inserted bytes are valid records is `decodeRecord`'s job.
 */

/**
 * The verdict on one change: when it passes, the record bytes it inserts into the log and
 * the hashes of the changes it holds (one, or one per chunk of a multi-chunk entry; none
 * for a whole document), else `reason` says what was refused, for logs.
 */
export type ChangeVerdict =
  | { ok: true; records: readonly Uint8Array[]; hashes: readonly string[] }
  | { ok: false; reason: string }

const NO_RECORDS: readonly Uint8Array[] = Object.freeze([])
const NO_HASHES: readonly string[] = Object.freeze([])

/** Largest op counter a change may start at (far beyond any honest table; keeps counters small). */
const MAX_START_OP = 2 ** 48

const SHARDS: ReadonlySet<string> = new Set(LOG_SHARD_IDS)

// Decoded ops carry fields the published `Op` type omits.
type DecodedOp = Automerge.DecodedChange['ops'][number] & { insert?: boolean; elemId?: string }

function refuse(reason: string): ChangeVerdict {
  return { ok: false, reason }
}

/** Why `op` is not an insert of record bytes into the log, or null when it is. */
function opProblem(op: DecodedOp): string | null {
  if (typeof op.obj !== 'string' || !SHARDS.has(op.obj))
    return `an op on object ${String(op.obj).slice(0, 80)} outside the log's shards`
  if (op.action !== 'set') return `a "${String(op.action).slice(0, 20)}" op in the log`
  if (op.insert !== true) return 'an overwrite of a log entry'
  if (!Array.isArray(op.pred) || op.pred.length !== 0) return 'an op that supersedes another'
  // decodeChange gives a bytes value as an array of numbers, without a datatype.
  const value = op.value as unknown
  if (op.datatype !== undefined || !(Array.isArray(value) || value instanceof Uint8Array))
    return 'a log entry that is not bytes'
  if (value.length > MAX_RECORD_BYTES) return `a log entry over ${MAX_RECORD_BYTES} bytes`
  return null
}

/** Largest document chunk accepted (a sync message may carry the whole document as one), bytes. */
export const MAX_DOCUMENT_BYTES = 256 * 1024 * 1024

// Chunk header: magic (4 bytes), checksum (4), chunk type (1): 0 document, 1 change, 2 compressed change.
const CHUNK_TYPE_AT = 8
const DOCUMENT_CHUNK = 0

// Verdicts are a pure function of the bytes, and every peer of a process (the simulator)
// checks the same changes: remember recent ones, bounded by entries and by bytes.
const verdicts = new Map<string, ChangeVerdict>()
const MAX_CACHED_VERDICTS = 20_000
const MAX_CACHED_BYTES = 32 * 1024 * 1024
const MAX_CACHED_CHANGE = 64 * 1024
let cachedBytes = 0
const byObject = new WeakMap<Uint8Array, ChangeVerdict>()

/**
 * Whether a peer may merge the encoded change `bytes`: the genesis change, or a change
 * whose every op inserts a byte string into the log (no deletes, no overwrites, nothing
 * outside the log, no new objects), within `MAX_CHANGE_BYTES` and `MAX_CHANGE_OPS`.
 * A change that passes comes with the record bytes it inserts, in op order (the same
 * array for the same bytes while cached: treat it as read-only). A peer learns records
 * from them at once, whether or not Automerge can apply the change yet.
 * @remarks Total: never throws; bytes that do not decode are refused. A document chunk
 * (Automerge's sync protocol sends one to a peer that has nothing) passes when its shape
 * is an honest table's (see `checkDocument`). A change costs one `Automerge.decodeChange`,
 * about 0.1-0.2 ms for one record (measured in test/crdt/change-guard.test.ts); recent
 * verdicts are cached by content (a few µs).
 */
export function checkChange(bytes: unknown): ChangeVerdict {
  if (!(bytes instanceof Uint8Array)) return refuse('not bytes')
  // Automerge's sync protocol may send several change chunks as one entry (a peer missing
  // a run of changes gets them concatenated): each is checked on its own, all must pass.
  const chunks = splitChunks(bytes)
  if (chunks !== null && chunks.length > 1) {
    const records: Uint8Array[] = []
    const hashes: string[] = []
    let hashed = true
    for (const chunk of chunks) {
      const verdict = checkChange(chunk)
      if (!verdict.ok) return verdict
      for (const r of verdict.records) records.push(r)
      for (const h of verdict.hashes) hashes.push(h)
      // A document among them has no hash, so the entry cannot be known by its hashes.
      if (verdict.hashes.length === 0) hashed = false
    }
    return { ok: true, records, hashes: hashed ? hashes : NO_HASHES }
  }
  if (bytes.length > MAX_CHANGE_BYTES && bytes[CHUNK_TYPE_AT] !== DOCUMENT_CHUNK)
    return refuse(`a change of ${bytes.length} bytes (at most ${MAX_CHANGE_BYTES})`)
  // The same bytes object reaches many peers of one process (the simulator decodes a
  // broadcast once): its verdict is remembered by identity too. Change bytes are never
  // modified after they arrive.
  const known = byObject.get(bytes)
  if (known !== undefined) return known
  const cacheable = bytes.length <= MAX_CACHED_CHANGE
  const key = cacheable ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1') : ''
  const hit = cacheable ? verdicts.get(key) : undefined
  if (hit !== undefined) {
    byObject.set(bytes, hit)
    return hit
  }
  const verdict = bytes[CHUNK_TYPE_AT] === DOCUMENT_CHUNK ? checkDocument(bytes) : checkOneChange(bytes)
  byObject.set(bytes, verdict)
  if (cacheable) {
    if (verdicts.size >= MAX_CACHED_VERDICTS || cachedBytes + key.length > MAX_CACHED_BYTES) {
      verdicts.clear()
      cachedBytes = 0
    }
    verdicts.set(key, verdict)
    cachedBytes += key.length
    if (verdict.ok) {
      for (const r of verdict.records) cachedBytes += r.length
      cachedBytes += 64 * verdict.hashes.length
    }
  }
  return verdict
}

const CHUNK_MAGIC = [0x85, 0x6f, 0x4a, 0x83]
/** Most chunks one entry may hold (a sync message's entry of concatenated changes). */
const MAX_CHUNKS_PER_ENTRY = 10_000

/**
 * The chunks of concatenated Automerge chunks (magic, checksum, type, uLEB128 length, body),
 * or null when the bytes are not exactly that (then they are judged as one chunk).
 */
function splitChunks(bytes: Uint8Array): Uint8Array[] | null {
  const out: Uint8Array[] = []
  let at = 0
  while (at < bytes.length) {
    if (out.length >= MAX_CHUNKS_PER_ENTRY || bytes.length - at <= CHUNK_TYPE_AT) return null
    for (let i = 0; i < 4; i++) if (bytes[at + i] !== CHUNK_MAGIC[i]) return null
    let p = at + CHUNK_TYPE_AT + 1
    let length = 0
    for (let shift = 0; ; shift += 7) {
      if (p >= bytes.length || shift > 28) return null
      const b = bytes[p++]
      length += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) break
    }
    const end = p + length
    if (end > bytes.length) return null
    out.push(bytes.subarray(at, end))
    at = end
  }
  return out
}

function checkOneChange(bytes: Uint8Array): ChangeVerdict {
  let change: Automerge.DecodedChange
  try {
    change = Automerge.decodeChange(bytes)
  } catch {
    return refuse('undecodable change')
  }
  try {
    if (change.hash === GENESIS_HASH) return { ok: true, records: NO_RECORDS, hashes: [change.hash] }
    const ops = change.ops as DecodedOp[]
    if (!Array.isArray(ops) || ops.length === 0) return refuse('a change without ops')
    if (ops.length > MAX_CHANGE_OPS) return refuse(`a change of ${ops.length} ops (at most ${MAX_CHANGE_OPS})`)
    if (!Array.isArray(change.deps) || change.deps.length === 0) return refuse('a change without dependencies')
    // Only the genesis is written as the genesis actor (a second seq 1 of it would clash).
    if (change.actor === GENESIS_ACTOR) return refuse("a change by the genesis change's actor")
    if (!Number.isSafeInteger(change.startOp) || change.startOp > MAX_START_OP)
      return refuse('an op counter out of range')
    const records: Uint8Array[] = []
    for (const op of ops) {
      const problem = opProblem(op)
      if (problem !== null) return refuse(problem)
      const value = op.value as unknown as Uint8Array | number[]
      records.push(value instanceof Uint8Array ? value : Uint8Array.from(value))
    }
    return { ok: true, records, hashes: [change.hash] }
  } catch {
    return refuse('a malformed change')
  }
}

/** Ops of the genesis change: `v`, `log`, and one per shard list inserted into the log. */
const GENESIS_OPS = 2 + LOG_SHARDS

/**
 * A whole document (Automerge's sync protocol sends one to a peer it knows nothing of):
 * loaded on its own and checked by its shape, not change by change.
 * @remarks An honest table's every op after the genesis inserts one visible byte string
 * into a shard, so `ops = genesis ops + records` exactly, with the root holding only
 * `v` and the genesis log, and the log holding exactly the genesis shards, in order. A
 * delete hides an element without adding an op, an overwrite or a put adds an op without
 * adding an element, a nested object adds ops and a non-bytes element: each breaks the
 * count or the shape. Decoding every change instead (what `checkChange` does for one)
 * cost a quarter of a 50-peer simulation.
 */
function checkDocument(bytes: Uint8Array): ChangeVerdict {
  if (bytes.length > MAX_DOCUMENT_BYTES)
    return refuse(`a document of ${bytes.length} bytes (at most ${MAX_DOCUMENT_BYTES})`)
  let doc: Automerge.Doc<Record<string, unknown>>
  try {
    doc = Automerge.load(bytes)
  } catch {
    return refuse('undecodable document')
  }
  try {
    const keys = Object.keys(doc)
    if (keys.length !== 2 || !keys.includes('v') || !keys.includes('log')) return refuse('a document of another shape')
    if (
      doc.v !== JOB_TABLE_VERSION ||
      Automerge.getConflicts(doc, 'v') !== undefined ||
      Automerge.getConflicts(doc, 'log') !== undefined
    )
      return refuse('a document whose root was written again')
    const log = doc.log
    if (!Array.isArray(log) || Automerge.getObjectId(log) !== LOG_LIST_ID) return refuse('a document with another log')
    if (log.length !== LOG_SHARDS) return refuse("a document whose log is not the genesis's shards")
    const records: Uint8Array[] = []
    for (let i = 0; i < LOG_SHARDS; i++) {
      const shard = log[i] as unknown
      if (!Array.isArray(shard) || Automerge.getObjectId(shard) !== LOG_SHARD_IDS[i])
        return refuse("a document whose log is not the genesis's shards")
      for (const entry of shard as unknown[]) {
        if (!(entry instanceof Uint8Array)) return refuse('in a document: a log entry that is not bytes')
        if (entry.length > MAX_RECORD_BYTES) return refuse(`in a document: a log entry over ${MAX_RECORD_BYTES} bytes`)
        records.push(entry)
      }
    }
    if (Automerge.stats(doc).numOps !== GENESIS_OPS + records.length)
      return refuse('in a document: ops that delete, overwrite or nest (the op count does not match the log)')
    return { ok: true, records, hashes: NO_HASHES }
  } catch {
    return refuse('a malformed document')
  } finally {
    Automerge.free(doc)
  }
}

/** The verdict on a sync message: its changes when every one passes `checkChange`. */
export type SyncMessageVerdict = { ok: true; changes: Uint8Array[] } | { ok: false; reason: string }

/**
 * Decodes an Automerge sync message and vets every change it carries (see `checkChange`).
 * @remarks Total: never throws; a message that does not decode is refused.
 */
export function checkSyncMessage(data: unknown): SyncMessageVerdict {
  if (!(data instanceof Uint8Array)) return { ok: false, reason: 'not bytes' }
  let changes: Uint8Array[]
  try {
    changes = Automerge.decodeSyncMessage(data).changes
  } catch {
    return { ok: false, reason: 'undecodable sync message' }
  }
  if (!Array.isArray(changes)) return { ok: false, reason: 'undecodable sync message' }
  for (const c of changes) {
    const verdict = checkChange(c)
    if (!verdict.ok) return { ok: false, reason: `in a sync message: ${verdict.reason}` }
  }
  return { ok: true, changes }
}
