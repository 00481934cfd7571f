import type { HostPolicy, JobId, JobSpec } from '../manifests/index.ts'
import { jobId } from '../manifests/index.ts'
import type { JobTable } from './job-table-doc.ts'
import { recordsOf } from './job-table-doc.ts'
import { decodeRecord, type JobRecord, OPERATOR_RECORD_TYPES, type RecordOf } from './records.ts'
import { comparePeerIds } from './signer.ts'

/** The six states of a job. */
export const JOB_STATUS = {
  pending: 'pending',
  claimed: 'claimed',
  running: 'running',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
} as const
export type JobStatus = (typeof JOB_STATUS)[keyof typeof JOB_STATUS]

/** Whether a status is final for its generation. */
export function isTerminal(status: JobStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled'
}

/** Who may sign what, and which hosts may run what: fixed by the local fleet config, never by the document. */
export interface TrustConfig {
  /** Operator public key texts (`[fleet] operator_keys`). */
  readonly operatorKeys: ReadonlySet<string>
  /** Per-host policies (`[hosts.*]`) by hostname. A Map: claims name any host, `constructor` included. */
  readonly hosts?: ReadonlyMap<string, HostPolicy>
}

/**
 * A job's spec as the table holds it: a manifest's `JobSpec`, except that the model may be
 * one this version does not know (a newer peer's operator wrote it).
 */
export type TableJobSpec = JobSpec<string>

/** What this peer observed of leases: renewals never enter the document. */
export interface LocalView {
  /** This peer's clock, ms. */
  readonly now: number
  /** Lease length, ms. */
  readonly leaseMs: number
  /** When this peer last saw the owner of (job, generation, round) alive; undefined = not yet observed (counts as now). */
  lastSeen(job: string, generation: number, round: number, peer: string): number | undefined
}

/** A job's state as every peer with the same document (and lease observations) derives it. */
export interface DerivedJob {
  readonly id: JobId
  readonly spec: TableJobSpec
  readonly status: JobStatus
  readonly generation: number
  /** The attempt this job is on (1-based); for failed jobs the last attempt used. */
  readonly attempt: number
  readonly attemptsUsed: number
  /** The current round's number (0 before any claim). Rounds count attempts plus releases. */
  readonly round: number
  /** The round a new claim must name when `status` is `pending`. */
  readonly nextRound: number
  /** The current (or completing) round's winner. */
  readonly owner: string | null
  readonly host: string | null
  /** Every claimant of the current round, for back-off decisions. */
  readonly claimants: readonly string[]
  readonly bundle: string | null
  readonly valMacroF1: number | null
  readonly testMacroF1: number | null
  readonly fitSeconds: number | null
  readonly error: string | null
  /** `at` of the newest record that shaped this state (the writer's clock, ms). */
  readonly updatedAt: number | null
  /** When the current lease lapses by this peer's observations (ms), for claimed/running jobs. */
  readonly leaseExpiresAt: number | null
}

type Claim = RecordOf<'claim'>

/** The tie-break: highest capability score, then the smallest peer id in byte order. */
export function compareClaims(a: Pick<Claim, 'score' | 'by'>, b: Pick<Claim, 'score' | 'by'>): number {
  if (a.score !== b.score) return b.score - a.score
  return comparePeerIds(a.by, b.by)
}

/** The winner among claims of one round, or undefined. */
export function winnerOf<T extends Pick<Claim, 'score' | 'by'>>(claims: readonly T[]): T | undefined {
  let best: T | undefined
  for (const c of claims) if (best === undefined || compareClaims(c, best) < 0) best = c
  return best
}

/** Whether `host`'s policy and the job's constraints let the host run the job. */
export function hostMayRun(
  spec: Pick<TableJobSpec, 'allowed_hosts' | 'model'>,
  host: string,
  hosts?: ReadonlyMap<string, HostPolicy>,
): boolean {
  if (spec.allowed_hosts.length > 0 && !spec.allowed_hosts.includes(host)) return false
  const policy = hosts?.get(host)
  if (policy === undefined) return true
  const allow: readonly string[] = policy.allow_jobs
  const deny: readonly string[] = policy.deny_jobs
  if (allow.length > 0 && !allow.includes(spec.model)) return false
  return !deny.includes(spec.model)
}

interface JobRecords {
  specs: RecordOf<'spec'>[]
  other: JobRecord[]
}

/** Groups verified records by job; forged, malformed and unauthorised records are dropped. */
function collect(records: Iterable<unknown>, trust: TrustConfig): Map<string, JobRecords> {
  const byJob = new Map<string, JobRecords>()
  const verified = new Map<string, JobRecord>()
  for (const bytes of records) {
    const v = decodeRecord(bytes)
    if (v !== null) verified.set(v.key, v.record)
  }
  // Sorted by signature so that every later "first match" is the same on every peer.
  const keys = [...verified.keys()].sort()
  for (const key of keys) {
    const r = verified.get(key) as JobRecord
    if (OPERATOR_RECORD_TYPES.has(r.t) && !trust.operatorKeys.has(r.by)) continue
    let entry = byJob.get(r.j)
    if (entry === undefined) {
      entry = { specs: [], other: [] }
      byJob.set(r.j, entry)
    }
    if (r.t === 'spec') entry.specs.push(r)
    else entry.other.push(r)
  }
  return byJob
}

// Spec validity is a pure function of the record; decodeRecord hands every peer the same
// record object for the same bytes, so this cache is shared by all documents in a process.
const specIds = new WeakMap<RecordOf<'spec'>, string | null>()

/**
 * The job id a spec record hashes to (null if it cannot be hashed).
 * @remarks Depends on the record alone, never on this version's model registry: peers of
 * different versions must derive the same table.
 */
function specIdOf(s: RecordOf<'spec'>): string | null {
  let id = specIds.get(s)
  if (id === undefined) {
    try {
      id = jobId(s.spec)
    } catch {
      id = null
    }
    specIds.set(s, id)
  }
  return id
}

/** The valid spec of a job: its id must hash from its identity; newest wins. */
function pickSpec(id: string, specs: readonly RecordOf<'spec'>[]): RecordOf<'spec'> | undefined {
  let best: RecordOf<'spec'> | undefined
  for (const s of specs) {
    if (specIdOf(s) !== id) continue
    if (best === undefined || s.at > best.at || (s.at === best.at && JSON.stringify(s) > JSON.stringify(best))) best = s
  }
  return best
}

function maxAt(records: readonly { at: number }[]): number | null {
  let m: number | null = null
  for (const r of records) if (m === null || r.at > m) m = r.at
  return m
}

/**
 * Derives every job's state from the document.
 *
 * @remarks Pure and order-independent: the result depends on the set of valid records,
 * the trust config and the local lease view, never on the order records were merged in.
 * Records whose signature does not verify, or that need an operator key and lack one,
 * or that come from a host the job's constraints exclude, are ignored.
 */
export function deriveJobs(doc: JobTable, view: LocalView, trust: TrustConfig): DerivedJob[] {
  return deriveRecords(recordsOf(doc), view, trust)
}

/**
 * `deriveJobs` over any collection of record bytes (a document's log, or a subset of it).
 *
 * @remarks Jobs are derived independently of each other, so deriving the records of one
 * job gives that job exactly as `deriveJobs` over the whole document does: incremental
 * derivation (`DerivedTable`) relies on this.
 */
export function deriveRecords(records: Iterable<unknown>, view: LocalView, trust: TrustConfig): DerivedJob[] {
  const out: DerivedJob[] = []
  for (const [id, recs] of collect(records, trust)) {
    const specRec = pickSpec(id, recs.specs)
    if (specRec === undefined) continue
    out.push(deriveOne(id as JobId, specRec, recs.other, view, trust))
  }
  out.sort((a, b) => b.spec.priority - a.spec.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return out
}

/**
 * A result recorded by a claimant that did not win its round: it trained because a
 * partition hid the winning claim until after it finished. The model is as good as the
 * winner's would be, so the job counts as completed rather than throwing a finished
 * result away (found by the simulator: a late, higher-scored claim that then failed
 * turned a completed job into a failed one). Earliest round first, then claim order.
 */
function resultOfLoser(
  rounds: ReadonlyMap<number, Claim[]>,
  roundNumbers: readonly number[],
  inGen: readonly JobRecord[],
  attemptOf: ReadonlyMap<number, number>,
  used: number,
  maxAttempts: number,
): { rec: RecordOf<'complete'>; attempt: number } | null {
  for (const round of roundNumbers) {
    const claimants = [...(rounds.get(round) ?? [])].sort(compareClaims)
    for (const c of claimants) {
      const rec = inGen.find((r) => r.t === 'complete' && r.r === round && r.by === c.by) as
        | RecordOf<'complete'>
        | undefined
      if (rec !== undefined) return { rec, attempt: attemptOf.get(round) ?? Math.max(1, Math.min(used, maxAttempts)) }
    }
  }
  return null
}

function deriveOne(
  id: JobId,
  specRec: RecordOf<'spec'>,
  records: readonly JobRecord[],
  view: LocalView,
  trust: TrustConfig,
): DerivedJob {
  const spec: TableJobSpec = { id, ...specRec.spec }
  let generation = 0
  for (const r of records) if (r.t === 'requeue' && r.g > generation) generation = r.g
  const inGen = records.filter((r) => r.t !== 'requeue' && 'g' in r && r.g === generation)
  const requeues = records.filter((r) => r.t === 'requeue' && r.g === generation)
  const base = {
    id,
    spec,
    generation,
    bundle: null,
    valMacroF1: null,
    testMacroF1: null,
    fitSeconds: null,
    error: null,
    leaseExpiresAt: null,
  }

  // Rounds of this generation, by number, holding the claims of hosts allowed to run the job.
  const rounds = new Map<number, Claim[]>()
  for (const r of inGen) {
    if (r.t !== 'claim' || !hostMayRun(spec, r.host, trust.hosts)) continue
    const list = rounds.get(r.r)
    if (list === undefined) rounds.set(r.r, [r])
    else list.push(r)
  }
  const roundNumbers = [...rounds.keys()].sort((a, b) => a - b)
  const by = (t: JobRecord['t'], round: number, peer: string) =>
    inGen.find((r) => r.t === t && 'r' in r && r.r === round && r.by === peer)

  const cancel = inGen.filter((r) => r.t === 'cancel')
  const updatedAll = maxAt([specRec, ...inGen, ...requeues])

  // Walk the rounds in order, counting the attempts they consumed.
  let used = 0
  let lastError: string | null = null
  let active: { round: number; winner: Claim; claims: Claim[]; attemptBefore: number } | null = null
  let completed: { rec: RecordOf<'complete'>; attempt: number } | null = null
  const attemptOf = new Map<number, number>()
  const lastRound = roundNumbers.length > 0 ? roundNumbers[roundNumbers.length - 1] : 0
  for (const round of roundNumbers) {
    if (used >= spec.max_attempts) break
    const claims = rounds.get(round) ?? []
    const winner = winnerOf(claims)
    if (winner === undefined) continue
    const attemptBefore = used
    attemptOf.set(round, attemptBefore + 1)
    const done = by('complete', round, winner.by) as RecordOf<'complete'> | undefined
    if (done !== undefined && completed === null) completed = { rec: done, attempt: attemptBefore + 1 }
    const fail = by('fail', round, winner.by) as RecordOf<'fail'> | undefined
    const lapse = inGen.find((r) => r.t === 'lapse' && r.r === round && r.owner === winner.by)
    const release = by('release', round, winner.by)
    if (fail !== undefined) {
      used++
      lastError = fail.error
    } else if (lapse !== undefined) {
      used++
      lastError = `lease lapsed on ${winner.host || winner.by}`
    } else if (release !== undefined) {
      // A release gives the job back without using an attempt.
    } else if (round !== lastRound) {
      used++ // superseded by a later round: its lease lapsed somewhere
      lastError = `lease lapsed on ${winner.host || winner.by}`
    } else {
      active = { round, winner, claims, attemptBefore }
    }
  }

  if (completed === null) completed = resultOfLoser(rounds, roundNumbers, inGen, attemptOf, used, spec.max_attempts)
  const common = { ...base, round: lastRound, nextRound: lastRound + 1, claimants: [] as string[] }
  if (cancel.length > 0) {
    return {
      ...common,
      status: 'cancelled',
      attempt: Math.max(1, Math.min(used + 1, spec.max_attempts)),
      attemptsUsed: used,
      owner: null,
      host: null,
      updatedAt: updatedAll,
    }
  }
  if (completed !== null) {
    const c = completed.rec
    return {
      ...common,
      status: 'completed',
      attempt: completed.attempt,
      attemptsUsed: used,
      owner: c.by,
      host: c.host,
      bundle: c.bundle,
      valMacroF1: c.val,
      testMacroF1: c.test,
      fitSeconds: c.fit_s,
      updatedAt: updatedAll,
    }
  }
  if (active !== null) {
    const { round, winner, claims } = active
    const started = by('start', round, winner.by) !== undefined
    const seen = view.lastSeen(id, generation, round, winner.by) ?? view.now
    const expires = seen + view.leaseMs
    if (view.now <= expires) {
      return {
        ...common,
        status: started ? 'running' : 'claimed',
        attempt: active.attemptBefore + 1,
        attemptsUsed: used,
        owner: winner.by,
        host: winner.host,
        claimants: claims.map((c) => c.by),
        updatedAt: updatedAll,
        leaseExpiresAt: expires,
      }
    }
    used++ // lapsed by this peer's observations
    lastError = `lease lapsed on ${winner.host || winner.by}`
  }
  if (used >= spec.max_attempts) {
    return {
      ...common,
      status: 'failed',
      attempt: used,
      attemptsUsed: used,
      owner: null,
      host: null,
      error: lastError,
      updatedAt: updatedAll,
    }
  }
  return {
    ...common,
    status: 'pending',
    attempt: used + 1,
    attemptsUsed: used,
    owner: null,
    host: null,
    error: lastError,
    updatedAt: updatedAll,
  }
}
