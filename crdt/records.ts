import { z } from 'zod'
import { JobSchema } from '../manifests/index.ts'
import { type Signer, verifySignature } from './signer.ts'

/**
 * Signed records: every fact in the job table is one of these, appended to the log.
 *
 * @remarks Records are bytes (`0x01 || signature(64) || payload JSON`), stored in the
 * Automerge document as `Uint8Array`: collaborative strings cost one op per character
 * and load 40x slower (see FINDINGS). The signature covers a domain tag, the payload,
 * and so the job id inside it: a record cannot be replayed into another job.
 */
export const RECORD_TYPES = {
  spec: 'spec',
  claim: 'claim',
  start: 'start',
  complete: 'complete',
  fail: 'fail',
  release: 'release',
  lapse: 'lapse',
  cancel: 'cancel',
  requeue: 'requeue',
} as const
export type RecordType = (typeof RECORD_TYPES)[keyof typeof RECORD_TYPES]

/** Record types only an operator key may sign. */
export const OPERATOR_RECORD_TYPES: ReadonlySet<RecordType> = new Set(['spec', 'cancel', 'requeue'])

const jobIdText = z.string().regex(/^[0-9a-f]{64}$/)
const peerText = z.string().min(1).max(128)
const ms = z.number().finite()
const gen = z.int().nonnegative()
const round = z.int().positive()
const base = { j: jobIdText, by: peerText, at: ms }

/** How deep a spec's `hyper` may nest (objects and arrays). */
const MAX_HYPER_DEPTH = 8

/** Whether `value` is JSON (finite numbers) nesting at most `depth` levels; iterative, never throws. */
function isBoundedJson(value: unknown, depth: number): boolean {
  const stack: [unknown, number][] = [[value, 0]]
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number]
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return false
      continue
    }
    if (typeof v !== 'object' || d >= depth) return false
    const items = Array.isArray(v) ? v : Object.values(v)
    for (const item of items) stack.push([item, d + 1])
  }
  return true
}

/** Any JSON object, at most `MAX_HYPER_DEPTH` deep; kept as it was parsed (never copied, so no key is lost). */
const HyperJson = z.custom<Record<string, unknown>>(
  (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && isBoundedJson(v, MAX_HYPER_DEPTH),
)

/**
 * The job spec as an operator wrote it by reloading a manifest (the `[[jobs]]` fields, no id).
 * @remarks `model` and `hyper` are not checked against this version's registry: a spec
 * written by a newer version (a new model, a new hyper-parameter) is valid here too, so
 * every peer derives the same table whatever its version. The scheduler decides whether
 * this host can run it (`ineligibility` says `unsupported` when it cannot).
 */
const SpecBody = JobSchema.extend({ model: z.string().min(1).max(64), hyper: HyperJson }).required()

export const RecordSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('spec'), ...base, spec: SpecBody }),
  z.strictObject({
    t: z.literal('claim'),
    ...base,
    g: gen,
    r: round,
    score: z.number().finite(),
    host: z.string().max(255),
  }),
  z.strictObject({ t: z.literal('start'), ...base, g: gen, r: round }),
  z.strictObject({
    t: z.literal('complete'),
    ...base,
    g: gen,
    r: round,
    bundle: z.string().min(1).max(200),
    val: z.number().finite().nullable(),
    test: z.number().finite().nullable(),
    fit_s: z.number().finite().nonnegative(),
    host: z.string().max(255),
  }),
  z.strictObject({ t: z.literal('fail'), ...base, g: gen, r: round, error: z.string().max(4000) }),
  z.strictObject({ t: z.literal('release'), ...base, g: gen, r: round }),
  z.strictObject({ t: z.literal('lapse'), ...base, g: gen, r: round, owner: peerText }),
  z.strictObject({ t: z.literal('cancel'), ...base, g: gen }),
  z.strictObject({ t: z.literal('requeue'), ...base, g: gen.positive(), force: z.boolean() }),
])

/** A record's payload. `j` job id, `by` signer, `at` the signer's clock (ms), `g` generation, `r` round. */
export type JobRecord = z.infer<typeof RecordSchema>
export type RecordOf<T extends RecordType> = Extract<JobRecord, { t: T }>
/** What a writer supplies: the record without `by` (the signer fills it). */
export type UnsignedRecord = { [T in RecordType]: Omit<RecordOf<T>, 'by'> }[RecordType]
/** One record type without `by`. */
export type UnsignedOf<T extends RecordType> = Omit<RecordOf<T>, 'by'>

/** Largest record accepted, bytes (signature and payload included). */
export const MAX_RECORD_BYTES = 64 * 1024

const VERSION = 1
const SIG_BYTES = 64
const DOMAIN = new TextEncoder().encode('cis490/record/1\0')
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

function signedMessage(payload: Uint8Array): Uint8Array {
  const msg = new Uint8Array(DOMAIN.length + payload.length)
  msg.set(DOMAIN, 0)
  msg.set(payload, DOMAIN.length)
  return msg
}

/** Signs a record as `signer` and returns its bytes for the log. */
export function encodeRecord(record: UnsignedRecord, signer: Signer): Uint8Array {
  const payload = encoder.encode(JSON.stringify({ ...record, by: signer.id }))
  const sig = signer.sign(signedMessage(payload))
  if (sig.length !== SIG_BYTES) throw new Error(`expected a ${SIG_BYTES}-byte signature, got ${sig.length}`)
  const out = new Uint8Array(1 + SIG_BYTES + payload.length)
  out[0] = VERSION
  out.set(sig, 1)
  out.set(payload, 1 + SIG_BYTES)
  return out
}

/** A decoded record with a key that is unique per signed bytes. */
export interface VerifiedRecord {
  readonly record: JobRecord
  /** Hex of the signature: a stable, unique, order-independent identity for the record. */
  readonly key: string
}

const cache = new WeakMap<Uint8Array, VerifiedRecord | null>()
// Content-keyed too: every peer's copy of a record is a different object (and the
// simulator holds many peers in one process). Keyed by the whole bytes, never by the
// signature alone, so forged payloads under a copied signature are not served from cache.
// Bounded by entries and by the bytes of the keys (a record may be 64 KiB): when either
// bound is reached the cache starts again, which costs re-verification, never correctness.
const byContent = new Map<string, VerifiedRecord | null>()
const MAX_CONTENT_CACHE = 500_000
const MAX_CONTENT_CACHE_BYTES = 128 * 1024 * 1024
let contentBytes = 0

/**
 * Decodes and verifies record bytes; `null` for anything malformed or forged.
 * @remarks Never throws, whatever the bytes. Results are cached per bytes object
 * (Automerge keeps unchanged values' identity across versions).
 */
export function decodeRecord(bytes: unknown): VerifiedRecord | null {
  if (!(bytes instanceof Uint8Array)) return null
  const hit = cache.get(bytes)
  if (hit !== undefined) return hit
  const content = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
  let out = byContent.get(content)
  if (out === undefined) {
    out = decodeUncached(bytes)
    if (byContent.size >= MAX_CONTENT_CACHE || contentBytes + content.length > MAX_CONTENT_CACHE_BYTES) {
      byContent.clear()
      contentBytes = 0
    }
    byContent.set(content, out)
    contentBytes += content.length
  }
  cache.set(bytes, out)
  return out
}

function decodeUncached(bytes: Uint8Array): VerifiedRecord | null {
  if (bytes.length < 1 + SIG_BYTES + 2 || bytes[0] !== VERSION || bytes.length > MAX_RECORD_BYTES) return null
  const sig = bytes.subarray(1, 1 + SIG_BYTES)
  const payload = bytes.subarray(1 + SIG_BYTES)
  let json: unknown
  try {
    json = JSON.parse(decoder.decode(payload))
  } catch {
    return null
  }
  const parsed = RecordSchema.safeParse(json)
  if (!parsed.success) return null
  if (!verifySignature(parsed.data.by, signedMessage(payload), sig)) return null
  return { record: parsed.data, key: Buffer.from(sig).toString('hex') }
}
