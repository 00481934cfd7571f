import {
  appendRecords,
  claimJob,
  completeJob,
  createJobTable,
  deriveJobs,
  type JobTable,
  manifestRecords,
  type Signer,
  startJob,
} from '../../crdt/index.ts'
import { freshView, manifestWithJobs } from './job-table.ts'

/**
 * A table of `n` jobs, each claimed, started and completed once by one of `workers`,
 * written as a fleet would: one change per transition.
 */
export function completedTable(n: number, op: Signer, workers: readonly Signer[]): JobTable {
  const trust = { operatorKeys: new Set([op.id]) }
  let doc = appendRecords(
    createJobTable(),
    manifestRecords(op, manifestWithJobs(n, [op.id]), [], 1_700_000_000_000).records,
    1_700_000_000_000,
  )
  const t0 = 1_700_000_000_000
  const jobs = deriveJobs(doc, freshView(t0), trust)
  jobs.forEach((j, i) => {
    const w = workers[i % workers.length]
    const t = t0 + i * 100_000
    doc = claimJob(doc, w, j, { score: 10 + (i % 7), host: `host-${i % workers.length}` }, t)
    const round = { ...j, round: j.nextRound }
    doc = startJob(doc, w, round, t + 2000)
    doc = completeJob(
      doc,
      w,
      round,
      {
        bundle: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi',
        valMacroF1: 0.7123456789,
        testMacroF1: 0.6123456789,
        fitSeconds: 123.456,
        host: `host-${i % workers.length}`,
      },
      t + 60_000,
    )
  })
  return doc
}
