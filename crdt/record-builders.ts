import type { JobSpec } from '../manifests/index.ts'
import type { UnsignedOf } from './records.ts'

/**
 * The one way to build each record of the job table (unsigned: `encodeRecord` signs it).
 *
 * @remarks The scheduler, the operator transitions and the tests all build records here,
 * so a record's fields and their bounds (an error text's length) are decided once.
 */

/** One round of one job generation, as a `DerivedJob` names it. */
export interface JobRound {
  readonly id: string
  readonly generation: number
  readonly round: number
}

/** The outcome of a finished training run, as a `complete` record carries it. */
export interface JobResult {
  bundle: string
  valMacroF1: number | null
  testMacroF1: number | null
  fitSeconds: number
  host: string
}

/** Longest `fail` error text a record carries (longer texts are cut, ending in `...`). */
export const MAX_ERROR_TEXT = 4000

/** The spec body a manifest's job becomes (every `[[jobs]]` field, no id). */
export function specRecord(job: JobSpec<string>, now: number): UnsignedOf<'spec'> {
  const { id, ...spec } = job
  return { t: 'spec', j: id, at: now, spec }
}

/** A claim of round `round` (a pending job's `nextRound`) with this host's capability score. */
export function claimRecord(
  job: Pick<JobRound, 'id' | 'generation'>,
  round: number,
  claim: { score: number; host: string },
  now: number,
): UnsignedOf<'claim'> {
  return { t: 'claim', j: job.id, at: now, g: job.generation, r: round, score: claim.score, host: claim.host }
}

/** The winner of a round starts training it. */
export function startRecord(job: JobRound, now: number): UnsignedOf<'start'> {
  return { t: 'start', j: job.id, at: now, g: job.generation, r: job.round }
}

/** A result for a round. */
export function completeRecord(job: JobRound, result: JobResult, now: number): UnsignedOf<'complete'> {
  return {
    t: 'complete',
    j: job.id,
    at: now,
    g: job.generation,
    r: job.round,
    bundle: result.bundle,
    val: result.valMacroF1,
    test: result.testMacroF1,
    fit_s: result.fitSeconds,
    host: result.host,
  }
}

/** A failed run of a round (uses an attempt); `error` is cut to `MAX_ERROR_TEXT` characters. */
export function failRecord(job: JobRound, error: string, now: number): UnsignedOf<'fail'> {
  const text = error.length > MAX_ERROR_TEXT ? `${error.slice(0, MAX_ERROR_TEXT - 3)}...` : error
  return { t: 'fail', j: job.id, at: now, g: job.generation, r: job.round, error: text }
}

/** A round given back without using an attempt. */
export function releaseRecord(job: JobRound, now: number): UnsignedOf<'release'> {
  return { t: 'release', j: job.id, at: now, g: job.generation, r: job.round }
}

/** An observer's record that `owner`'s lease on a round lapsed. */
export function lapseRecord(job: JobRound, owner: string, now: number): UnsignedOf<'lapse'> {
  return { t: 'lapse', j: job.id, at: now, g: job.generation, r: job.round, owner }
}

/** Operator: cancels generation `job.generation`. */
export function cancelRecord(job: Pick<JobRound, 'id' | 'generation'>, now: number): UnsignedOf<'cancel'> {
  return { t: 'cancel', j: job.id, at: now, g: job.generation }
}

/** Operator: starts generation `job.generation + 1`. */
export function requeueRecord(
  job: Pick<JobRound, 'id' | 'generation'>,
  force: boolean,
  now: number,
): UnsignedOf<'requeue'> {
  return { t: 'requeue', j: job.id, at: now, g: job.generation + 1, force }
}
