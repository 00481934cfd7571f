import type { JobSpec, Manifest } from '../manifests/index.ts'
import type { DerivedJob } from './derive.ts'
import { appendRecords, type JobTable } from './job-table-doc.ts'
import { encodeRecord } from './records.ts'
import type { Signer } from './signer.ts'

/**
 * The transitions of the job table: each appends one or more signed records.
 *
 * @remarks Pure functions of (document, signer, arguments, time). They do not check
 * that a transition is allowed from the derived state except where noted: the
 * scheduler decides, and `deriveJobs` ignores what does not count (a start by a
 * non-winner, a result of an old generation...), so a wrong write never corrupts state.
 */

function specBody(job: JobSpec) {
  const { id: _id, ...body } = job
  return body
}

/** Whether a job's stored spec differs from the manifest's (constraints or priority changed). */
function specChanged(current: JobSpec, next: JobSpec): boolean {
  return JSON.stringify(specBody(current)) !== JSON.stringify(specBody(next))
}

/**
 * Applies a manifest as an operator: new ids become pending, changed constraints are
 * updated, jobs already in the table keep their state, and ids missing from the manifest
 * stay until cancelled. Idempotent: reloading the same manifest appends nothing.
 */
export function applyManifest(
  doc: JobTable,
  operator: Signer,
  manifest: Pick<Manifest, 'jobs'>,
  existing: readonly DerivedJob[],
  now: number,
): { doc: JobTable; added: number; updated: number } {
  const current = new Map(existing.map((j) => [j.id, j.spec]))
  const records: Uint8Array[] = []
  let added = 0
  let updated = 0
  for (const job of manifest.jobs) {
    const have = current.get(job.id)
    if (have !== undefined && !specChanged(have, job)) continue
    if (have === undefined) added++
    else updated++
    records.push(encodeRecord({ t: 'spec', j: job.id, at: now, spec: specBody(job) }, operator))
  }
  return { doc: appendRecords(doc, records, now), added, updated }
}

/** Claims the next round of a pending job with this host's capability score. */
export function claimJob(
  doc: JobTable,
  peer: Signer,
  job: DerivedJob,
  claim: { score: number; host: string },
  now: number,
): JobTable {
  return appendRecords(
    doc,
    [
      encodeRecord(
        { t: 'claim', j: job.id, at: now, g: job.generation, r: job.nextRound, score: claim.score, host: claim.host },
        peer,
      ),
    ],
    now,
  )
}

/** Marks the current round as started by its winner. */
export function startJob(doc: JobTable, peer: Signer, job: DerivedJob, now: number): JobTable {
  return appendRecords(
    doc,
    [encodeRecord({ t: 'start', j: job.id, at: now, g: job.generation, r: job.round }, peer)],
    now,
  )
}

/** The outcome of a finished training run. */
export interface JobResult {
  bundle: string
  valMacroF1: number | null
  testMacroF1: number | null
  fitSeconds: number
  host: string
}

/** Records a result for the round this peer owns. */
export function completeJob(
  doc: JobTable,
  peer: Signer,
  job: Pick<DerivedJob, 'id' | 'generation' | 'round'>,
  result: JobResult,
  now: number,
): JobTable {
  return appendRecords(
    doc,
    [
      encodeRecord(
        {
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
        },
        peer,
      ),
    ],
    now,
  )
}

/** Records a failed run of the round this peer owns (uses an attempt). */
export function failJob(
  doc: JobTable,
  peer: Signer,
  job: Pick<DerivedJob, 'id' | 'generation' | 'round'>,
  error: string,
  now: number,
): JobTable {
  const text = error.length > 4000 ? `${error.slice(0, 3997)}...` : error
  return appendRecords(
    doc,
    [encodeRecord({ t: 'fail', j: job.id, at: now, g: job.generation, r: job.round, error: text }, peer)],
    now,
  )
}

/** Gives back a round this peer owns without using an attempt (shutdown, lost capacity). */
export function releaseJob(
  doc: JobTable,
  peer: Signer,
  job: Pick<DerivedJob, 'id' | 'generation' | 'round'>,
  now: number,
): JobTable {
  return appendRecords(
    doc,
    [encodeRecord({ t: 'release', j: job.id, at: now, g: job.generation, r: job.round }, peer)],
    now,
  )
}

/** Records, as an observer, that the owner's lease on the current round lapsed. */
export function lapseJob(
  doc: JobTable,
  peer: Signer,
  job: Pick<DerivedJob, 'id' | 'generation' | 'round'>,
  owner: string,
  now: number,
): JobTable {
  return appendRecords(
    doc,
    [encodeRecord({ t: 'lapse', j: job.id, at: now, g: job.generation, r: job.round, owner }, peer)],
    now,
  )
}

/** Operator: cancels the job's current generation. */
export function cancelJob(
  doc: JobTable,
  operator: Signer,
  job: Pick<DerivedJob, 'id' | 'generation'>,
  now: number,
): JobTable {
  return appendRecords(doc, [encodeRecord({ t: 'cancel', j: job.id, at: now, g: job.generation }, operator)], now)
}

/** Refused: requeueing a running job needs `force`. */
export class RequeueRunningError extends Error {
  override name = 'RequeueRunningError'
  constructor(id: string) {
    super(`job ${id.slice(0, 12)} is running; requeue it with --force to abandon the current run`)
  }
}

/** Operator: starts a new generation of the job (attempts from 1 again). */
export function requeueJob(
  doc: JobTable,
  operator: Signer,
  job: Pick<DerivedJob, 'id' | 'generation' | 'status'>,
  opts: { force?: boolean },
  now: number,
): JobTable {
  const force = opts.force === true
  if ((job.status === 'running' || job.status === 'claimed') && !force) throw new RequeueRunningError(job.id)
  return appendRecords(
    doc,
    [encodeRecord({ t: 'requeue', j: job.id, at: now, g: job.generation + 1, force }, operator)],
    now,
  )
}
