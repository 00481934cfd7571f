import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Automerge from '@automerge/automerge'
import {
  appendRecords,
  claimJob,
  completeJob,
  createJobTable,
  type DerivedJob,
  deriveJobs,
  failJob,
  type JobTable,
  manifestRecords,
  startJob,
} from '../../crdt/index.ts'
import { freshView, makeSigners, manifestWithJobs } from '../helpers/job-table.ts'

const RESULT = { bundle: 'bafyloser', valMacroF1: 0.8, testMacroF1: 0.7, fitSeconds: 3, host: 'h-low' }

// Found by the simulator (seed 11, 6 peers, 22 jobs, all faults): a peer behind a partition
// claimed the same round with a higher score, trained, failed, and when the partition
// healed the finished result of the peer that had trained was thrown away.
describe('a result recorded by a claimant that lost its round retroactively', async () => {
  const [op, low, high, later, stranger] = await makeSigners(5)
  const trust = { operatorKeys: new Set([op.id]) }
  const one = (doc: JobTable): DerivedJob => deriveJobs(doc, freshView(1000), trust)[0]
  const table = () =>
    appendRecords(createJobTable(), manifestRecords(op, manifestWithJobs(1, [op.id]), [], 1).records, 1)

  function race(): JobTable {
    const base = table()
    const job = one(base)
    // Each side of the partition claims round 1 without seeing the other's claim.
    let a = claimJob(Automerge.clone(base, { actor: '1'.padStart(32, '0') }), low, job, { score: 1, host: 'h-low' }, 10)
    a = startJob(a, low, { ...job, round: 1 }, 20)
    a = completeJob(a, low, { id: job.id, generation: 0, round: 1 }, RESULT, 30)
    let b = claimJob(
      Automerge.clone(base, { actor: '2'.padStart(32, '0') }),
      high,
      job,
      { score: 9, host: 'h-high' },
      11,
    )
    b = startJob(b, high, { ...job, round: 1 }, 21)
    b = failJob(b, high, { id: job.id, generation: 0, round: 1 }, 'trainer exited with code 1', 25)
    return Automerge.merge(a, b)
  }

  it('keeps the job completed with that result', () => {
    const j = one(race())
    assert.equal(j.status, 'completed')
    assert.equal(j.bundle, RESULT.bundle)
    assert.equal(j.owner, low.id)
    assert.equal(j.attempt, 1)
  })

  it('keeps it completed after a later round fails the last attempt', () => {
    let doc = race()
    doc = claimJob(doc, later, { ...one(doc), nextRound: 2 }, { score: 5, host: 'h-later' }, 40)
    doc = failJob(doc, later, { id: one(doc).id, generation: 0, round: 2 }, 'boom', 50)
    assert.equal(one(doc).status, 'completed')
    assert.equal(one(doc).bundle, RESULT.bundle)
  })

  it('still ignores a result from a peer that never claimed the round', () => {
    const base = table()
    const job = one(base)
    let doc = claimJob(base, high, job, { score: 9, host: 'h-high' }, 10)
    doc = completeJob(doc, stranger, { id: job.id, generation: 0, round: 1 }, RESULT, 30)
    assert.equal(one(doc).status, 'claimed')
    assert.equal(one(doc).bundle, null)
  })
})
