import type { HostPolicy } from '../manifests/index.ts'
import { compareClaims, hostMayRun, type LocalView, type TableJobSpec, winnerOf } from './derive.ts'
import { type JobRecord, OPERATOR_RECORD_TYPES, type RecordOf, type VerifiedRecord } from './records.ts'

/** How one attempt (one won round of one generation) ended, or that it has not. */
export const ATTEMPT_OUTCOMES = {
  /** Its owner holds the claim and has not started training. */
  claimed: 'claimed',
  /** Its owner started training and its lease is alive. */
  running: 'running',
  completed: 'completed',
  failed: 'failed',
  /** The owner's lease was not renewed (a lapse record, a later round, or this peer's observations). */
  lapsed: 'lapsed',
  /** The owner gave the job back without using an attempt. */
  released: 'released',
  /** An operator cancelled the generation while this attempt was open. */
  cancelled: 'cancelled',
  /** An operator requeued the job (a new generation) while this attempt was open. */
  requeued: 'requeued',
} as const
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[keyof typeof ATTEMPT_OUTCOMES]

/** One attempt of a job as its records tell it; times are the writers' clocks (ms), null where unknown. */
export interface JobAttempt {
  readonly generation: number
  /** 1-based within its generation; a released round and the round after it share a number. */
  readonly attempt: number
  readonly round: number
  /** The round's winning claimant (or, for a result written by a claimant that lost, that claimant). */
  readonly owner: string
  readonly host: string
  readonly claimed_at: number
  readonly started_at: number | null
  readonly ended_at: number | null
  readonly outcome: AttemptOutcome
  readonly error: string | null
}

/** What the history needs besides the records: the job's spec and the fleet's trust config. */
export interface JobHistoryOptions {
  /** The job's spec (its `max_attempts` and `allowed_hosts` decide which rounds count). */
  readonly spec: Pick<TableJobSpec, 'model' | 'allowed_hosts' | 'max_attempts'>
  /** Operator keys; when given, operator records signed by other keys are ignored. */
  readonly operatorKeys?: ReadonlySet<string>
  /** `[hosts.*]` policies by hostname: claims from hosts that may not run the job do not count. */
  readonly hosts?: ReadonlyMap<string, HostPolicy>
  /** This peer's lease observations: an open attempt whose lease expired by them is `lapsed`. */
  readonly view?: LocalView
}

type Claim = RecordOf<'claim'>

/**
 * Every attempt of a job, oldest generation and round first, from its verified records.
 *
 * @remarks Pure and order-independent, and walks the rounds exactly as `deriveJobs` does
 * (same winner rule, same attempt counting, rounds past `max_attempts` ignored, a result
 * written by a losing claimant counted when the winner has none), so the last attempt of
 * the current generation agrees with the job's derived status.
 */
export function jobHistory(records: readonly VerifiedRecord[], opts: JobHistoryOptions): JobAttempt[] {
  const byKey = new Map<string, JobRecord>()
  for (const v of records) byKey.set(v.key, v.record)
  // Sorted by signature, as derive does, so every "first match" is the same on every peer.
  const recs = [...byKey.keys()]
    .sort()
    .map((k) => byKey.get(k) as JobRecord)
    .filter((r) => !OPERATOR_RECORD_TYPES.has(r.t) || opts.operatorKeys === undefined || opts.operatorKeys.has(r.by))
  let current = 0
  for (const r of recs) if (r.t === 'requeue' && r.g > current) current = r.g
  const generations = new Set<number>()
  for (const r of recs) if (r.t === 'claim') generations.add(r.g)
  const out: JobAttempt[] = []
  for (const g of [...generations].sort((a, b) => a - b)) {
    const inGen = recs.filter((r) => r.t !== 'requeue' && 'g' in r && r.g === g)
    const requeue = earliest(recs.filter((r): r is RecordOf<'requeue'> => r.t === 'requeue' && r.g > g))
    out.push(...generationHistory(g, inGen, requeue, g === current ? opts.view : undefined, opts))
  }
  return out
}

function earliest<T extends { at: number }>(records: readonly T[]): T | undefined {
  let best: T | undefined
  for (const r of records) if (best === undefined || r.at < best.at) best = r
  return best
}

function generationHistory(
  generation: number,
  inGen: readonly JobRecord[],
  requeue: RecordOf<'requeue'> | undefined,
  view: LocalView | undefined,
  opts: JobHistoryOptions,
): JobAttempt[] {
  const { spec } = opts
  const rounds = new Map<number, Claim[]>()
  for (const r of inGen) {
    if (r.t !== 'claim' || !hostMayRun(spec, r.host, opts.hosts)) continue
    const list = rounds.get(r.r)
    if (list === undefined) rounds.set(r.r, [r])
    else list.push(r)
  }
  const roundNumbers = [...rounds.keys()].sort((a, b) => a - b)
  const lastRound = roundNumbers.length > 0 ? roundNumbers[roundNumbers.length - 1] : 0
  const by = <T extends JobRecord['t']>(t: T, round: number, peer: string) =>
    inGen.find((r) => r.t === t && 'r' in r && r.r === round && r.by === peer) as RecordOf<T> | undefined
  const cancel = earliest(inGen.filter((r) => r.t === 'cancel'))

  const out: JobAttempt[] = []
  let used = 0
  for (const round of roundNumbers) {
    if (used >= spec.max_attempts) break
    const claims = rounds.get(round) ?? []
    const winner = winnerOf(claims) as Claim
    const attempt = used + 1
    const start = by('start', round, winner.by)
    const base = {
      generation,
      attempt,
      round,
      owner: winner.by,
      host: winner.host,
      claimed_at: winner.at,
      started_at: start?.at ?? null,
    }
    const lapsedText = `lease lapsed on ${winner.host || winner.by}`
    const done = by('complete', round, winner.by)
    const fail = by('fail', round, winner.by)
    const lapse = inGen.find((r) => r.t === 'lapse' && r.r === round && r.owner === winner.by)
    const release = by('release', round, winner.by)
    // Attempts are counted exactly as derive counts them, whatever the outcome shown.
    const consumed = fail !== undefined || lapse !== undefined || (release === undefined && round !== lastRound)
    if (consumed) used++
    if (done !== undefined) {
      out.push({ ...base, host: done.host || winner.host, ended_at: done.at, outcome: 'completed', error: null })
    } else if (fail !== undefined) {
      out.push({ ...base, ended_at: fail.at, outcome: 'failed', error: fail.error })
    } else if (lapse !== undefined) {
      out.push({ ...base, ended_at: lapse.at, outcome: 'lapsed', error: lapsedText })
    } else if (release !== undefined) {
      out.push({ ...base, ended_at: release.at, outcome: 'released', error: null })
    } else if (consumed) {
      out.push({ ...base, ended_at: null, outcome: 'lapsed', error: lapsedText })
    } else if (cancel !== undefined) {
      out.push({ ...base, ended_at: cancel.at, outcome: 'cancelled', error: null })
    } else if (requeue !== undefined) {
      out.push({ ...base, ended_at: requeue.at, outcome: 'requeued', error: null })
    } else {
      const seen = view === undefined ? undefined : (view.lastSeen(winner.j, generation, round, winner.by) ?? view.now)
      if (view !== undefined && seen !== undefined && view.now > seen + view.leaseMs) {
        out.push({ ...base, ended_at: seen + view.leaseMs, outcome: 'lapsed', error: lapsedText })
      } else {
        out.push({ ...base, ended_at: null, outcome: start !== undefined ? 'running' : 'claimed', error: null })
      }
    }
  }
  if (!out.some((a) => a.outcome === 'completed')) markLoserResult(out, rounds, roundNumbers, inGen)
  return out
}

/** A result written by a claimant that lost its round still completes the job (see derive's `resultOfLoser`). */
function markLoserResult(
  out: JobAttempt[],
  rounds: ReadonlyMap<number, Claim[]>,
  roundNumbers: readonly number[],
  inGen: readonly JobRecord[],
): void {
  for (const round of roundNumbers) {
    const claimants = [...(rounds.get(round) ?? [])].sort(compareClaims)
    for (const c of claimants) {
      const rec = inGen.find((r) => r.t === 'complete' && r.r === round && r.by === c.by) as
        | RecordOf<'complete'>
        | undefined
      if (rec === undefined) continue
      const start = inGen.find((r) => r.t === 'start' && r.r === round && r.by === c.by)
      const i = out.findIndex((a) => a.round === round)
      const attempt = i >= 0 ? out[i].attempt : Math.max(1, out.length > 0 ? out[out.length - 1].attempt : 1)
      const entry: JobAttempt = {
        generation: i >= 0 ? out[i].generation : (out[0]?.generation ?? c.g),
        attempt,
        round,
        owner: c.by,
        host: rec.host || c.host,
        claimed_at: c.at,
        started_at: start?.at ?? null,
        ended_at: rec.at,
        outcome: 'completed',
        error: null,
      }
      if (i >= 0) out.splice(i + 1, 0, entry)
      else {
        const at = out.findIndex((a) => a.round > round)
        out.splice(at < 0 ? out.length : at, 0, entry)
      }
      return
    }
  }
}
