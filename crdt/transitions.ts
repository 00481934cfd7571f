import type { JobSpec } from '../manifests/index.ts'
import type { DerivedJob } from './derive.ts'
import { RequeueRunningError } from './errors.ts'
import { appendRecords, type JobTable } from './job-table-doc.ts'
import {
  cancelRecord,
  claimRecord,
  completeRecord,
  failRecord,
  type JobResult,
  type JobRound,
  lapseRecord,
  releaseRecord,
  requeueRecord,
  specRecord,
  startRecord,
} from './record-builders.ts'
import { encodeRecord } from './records.ts'
import type { Signer } from './signer.ts'

/**
 * The transitions of the job table.
 *
 * @remarks Operator transitions return signed record bytes (the peer core appends them
 * to its own document, or sends them as a signed command); the peer transitions append
 * one record to a document (tests and tools; the scheduler returns unsigned records
 * built by `record-builders.ts`). None checks that a transition is allowed from the
 * derived state except where noted: `deriveJobs` ignores what does not count (a start by
 * a non-winner, a result of an old generation...), so a wrong write never corrupts state.
 */

/** Whether a job's stored spec differs from the manifest's (constraints or priority changed). */
function specChanged(current: DerivedJob['spec'], next: JobSpec<string>): boolean {
  const { id: _a, ...a } = current
  const { id: _b, ...b } = next
  return JSON.stringify(a) !== JSON.stringify(b)
}

/**
 * The operator's records for loading a manifest: new ids become pending, changed
 * constraints are updated, jobs already in the table keep their state, and ids missing
 * from the manifest stay until cancelled. Idempotent: reloading the same manifest gives
 * no records.
 * @param existing - the jobs of the table the records are for (`deriveJobs` or `DerivedTable.jobs()`).
 */
export function manifestRecords(
  operator: Signer,
  manifest: { readonly jobs: readonly JobSpec<string>[] },
  existing: Iterable<DerivedJob>,
  now: number,
): { records: Uint8Array[]; added: number; updated: number } {
  const current = new Map<string, DerivedJob['spec']>()
  for (const j of existing) current.set(j.id, j.spec)
  const records: Uint8Array[] = []
  let added = 0
  let updated = 0
  for (const job of manifest.jobs) {
    const have = current.get(job.id)
    if (have !== undefined && !specChanged(have, job)) continue
    if (have === undefined) added++
    else updated++
    records.push(encodeRecord(specRecord(job, now), operator))
  }
  return { records, added, updated }
}

/** The operator's record cancelling the job's current generation. */
export function cancelRecords(operator: Signer, job: Pick<DerivedJob, 'id' | 'generation'>, now: number): Uint8Array[] {
  return [encodeRecord(cancelRecord(job, now), operator)]
}

/**
 * The operator's record starting a new generation of the job (attempts from 1 again).
 * @throws RequeueRunningError when the job is claimed or running and `force` is not set.
 */
export function requeueRecords(
  operator: Signer,
  job: Pick<DerivedJob, 'id' | 'generation' | 'status'>,
  opts: { force?: boolean },
  now: number,
): Uint8Array[] {
  const force = opts.force === true
  if ((job.status === 'running' || job.status === 'claimed') && !force) throw new RequeueRunningError(job.id)
  return [encodeRecord(requeueRecord(job, force, now), operator)]
}

/** Claims the next round of a pending job with this host's capability score. */
export function claimJob(
  doc: JobTable,
  peer: Signer,
  job: Pick<DerivedJob, 'id' | 'generation' | 'nextRound'>,
  claim: { score: number; host: string },
  now: number,
): JobTable {
  return appendRecords(doc, [encodeRecord(claimRecord(job, job.nextRound, claim, now), peer)], now)
}

/** Marks the current round as started by its winner. */
export function startJob(doc: JobTable, peer: Signer, job: JobRound, now: number): JobTable {
  return appendRecords(doc, [encodeRecord(startRecord(job, now), peer)], now)
}

/** Records a result for the round this peer owns. */
export function completeJob(doc: JobTable, peer: Signer, job: JobRound, result: JobResult, now: number): JobTable {
  return appendRecords(doc, [encodeRecord(completeRecord(job, result, now), peer)], now)
}

/** Records a failed run of the round this peer owns (uses an attempt). */
export function failJob(doc: JobTable, peer: Signer, job: JobRound, error: string, now: number): JobTable {
  return appendRecords(doc, [encodeRecord(failRecord(job, error, now), peer)], now)
}

/** Gives back a round this peer owns without using an attempt (shutdown, lost capacity). */
export function releaseJob(doc: JobTable, peer: Signer, job: JobRound, now: number): JobTable {
  return appendRecords(doc, [encodeRecord(releaseRecord(job, now), peer)], now)
}

/** Records, as an observer, that the owner's lease on the current round lapsed. */
export function lapseJob(doc: JobTable, peer: Signer, job: JobRound, owner: string, now: number): JobTable {
  return appendRecords(doc, [encodeRecord(lapseRecord(job, owner, now), peer)], now)
}
