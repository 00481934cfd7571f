import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  appendRecords,
  cancelRecords,
  claimJob,
  comparePeerIds,
  completeJob,
  createJobTable,
  type DerivedJob,
  deriveJobs,
  encodeRecord,
  failJob,
  type JobTable,
  LeaseTable,
  lapseJob,
  manifestRecords,
  RequeueRunningError,
  recordsOf,
  releaseJob,
  requeueRecords,
  type Signer,
  startJob,
} from '../../crdt/index.ts'
import { freshView, makeSigners, manifestWithJobs } from '../helpers/job-table.ts'

const RESULT = { bundle: 'bafyresult', valMacroF1: 0.8, testMacroF1: 0.7, fitSeconds: 3, host: 'h1' }

describe('deriveJobs', async () => {
  const [op, p1, p2, p3, intruder] = await makeSigners(5)
  const trust = { operatorKeys: new Set([op.id]) }
  const derive = (doc: JobTable, now = 1000) => deriveJobs(doc, freshView(now), trust)
  const one = (doc: JobTable, now = 1000): DerivedJob => derive(doc, now)[0]

  function table(n = 1, extra = ''): JobTable {
    return appendRecords(createJobTable(), manifestRecords(op, manifestWithJobs(n, [op.id], extra), [], 1).records, 1)
  }
  const claim = (doc: JobTable, s: Signer, score: number, host = 'h1') =>
    claimJob(doc, s, one(doc), { score, host }, 10)

  it('lists manifest jobs as pending, by priority then id', () => {
    const jobs = derive(table(4))
    assert.equal(jobs.length, 4)
    assert.ok(jobs.every((j) => j.status === 'pending' && j.attempt === 1 && j.generation === 0))
    for (let i = 1; i < jobs.length; i++) {
      const a = jobs[i - 1]
      const b = jobs[i]
      assert.ok(a.spec.priority > b.spec.priority || (a.spec.priority === b.spec.priority && a.id < b.id))
    }
  })

  it('reloading the same manifest is idempotent; a changed priority updates the job but not its state', () => {
    let doc = table(2)
    const before = recordsOf(doc).length
    const again = manifestRecords(op, manifestWithJobs(2, [op.id]), derive(doc), 2)
    assert.equal(again.added + again.updated, 0)
    assert.equal(again.records.length, 0)
    assert.equal(recordsOf(doc).length, before)
    doc = claim(doc, p1, 1)
    const changed = manifestWithJobs(3, [op.id]).jobs.map((j) => ({ ...j, priority: j.priority + 10 }))
    const r = manifestRecords(op, { jobs: changed }, derive(doc), 3)
    assert.equal(r.added, 1)
    assert.equal(r.updated, 2)
    assert.equal(r.records.length, 3)
    const jobs = derive(appendRecords(doc, r.records, 3))
    assert.equal(jobs.length, 3)
    assert.equal(jobs.filter((j) => j.status === 'claimed').length, 1)
    assert.ok(jobs.every((j) => j.spec.priority >= 10))
  })

  it('runs the lifecycle pending -> claimed -> running -> completed', () => {
    let doc = table()
    doc = claim(doc, p1, 1)
    assert.equal(one(doc).status, 'claimed')
    assert.equal(one(doc).owner, p1.id)
    doc = startJob(doc, p1, one(doc), 20)
    assert.equal(one(doc).status, 'running')
    doc = completeJob(doc, p1, one(doc), RESULT, 30)
    const j = one(doc)
    assert.equal(j.status, 'completed')
    assert.equal(j.bundle, 'bafyresult')
    assert.equal(j.valMacroF1, 0.8)
    assert.equal(j.attempt, 1)
    assert.equal(j.updatedAt, 30)
  })

  it('settles concurrent claims by highest score, then smallest peer id', () => {
    let doc = table()
    const pending = one(doc)
    doc = claimJob(doc, p1, pending, { score: 1, host: 'h1' }, 10)
    doc = claimJob(doc, p2, pending, { score: 5, host: 'h2' }, 11)
    doc = claimJob(doc, p3, pending, { score: 5, host: 'h3' }, 12)
    const winner = comparePeerIds(p2.id, p3.id) < 0 ? p2 : p3
    assert.equal(one(doc).owner, winner.id)
    assert.deepEqual(new Set(one(doc).claimants), new Set([p1.id, p2.id, p3.id]))
    // A start by a loser does not make the job running.
    const loser = winner === p2 ? p3 : p2
    const doc2 = startJob(doc, loser, one(doc), 20)
    assert.equal(one(doc2).status, 'claimed')
  })

  it('a failure uses an attempt; the last one fails the job', () => {
    let doc = table() // max_attempts = 2
    doc = claim(doc, p1, 1)
    doc = failJob(doc, p1, one(doc), 'boom', 20)
    let j = one(doc)
    assert.equal(j.status, 'pending')
    assert.equal(j.attempt, 2)
    assert.equal(j.error, 'boom')
    doc = claimJob(doc, p2, j, { score: 1, host: 'h2' }, 30)
    assert.equal(one(doc).round, 2)
    doc = failJob(doc, p2, one(doc), 'boom again', 40)
    j = one(doc)
    assert.equal(j.status, 'failed')
    assert.equal(j.attempt, 2)
    assert.equal(j.error, 'boom again')
    // Claims beyond max_attempts are ignored.
    doc = claimJob(doc, p3, j, { score: 9, host: 'h3' }, 50)
    assert.equal(one(doc).status, 'failed')
    assert.equal(one(doc).attemptsUsed, 2)
  })

  it('a fail by someone other than the owner is ignored', () => {
    let doc = claim(table(), p1, 1)
    doc = failJob(doc, p2, one(doc), 'not mine', 20)
    assert.equal(one(doc).status, 'claimed')
  })

  it('a lease not renewed for lease_s lapses by the local view; the next claim is the next attempt', () => {
    let doc = claim(table(), p1, 1)
    const leases = new LeaseTable({ leaseMs: 30_000 })
    leases.observe(deriveJobs(doc, leases.view(0), trust), 0)
    assert.equal(deriveJobs(doc, leases.view(29_000), trust)[0].status, 'claimed')
    leases.renew(one(doc).id, 0, 1, p1.id, 25_000)
    assert.equal(deriveJobs(doc, leases.view(50_000), trust)[0].status, 'claimed')
    const lapsed = deriveJobs(doc, leases.view(56_000), trust)[0]
    assert.equal(lapsed.status, 'pending')
    assert.equal(lapsed.attempt, 2)
    assert.match(lapsed.error ?? '', /lease lapsed/)
    doc = claimJob(doc, p2, lapsed, { score: 1, host: 'h2' }, 56_000)
    // Every peer now sees round 1 superseded, whatever its own lease view says.
    const j = one(doc)
    assert.equal(j.status, 'claimed')
    assert.equal(j.owner, p2.id)
    assert.equal(j.attempt, 2)
  })

  it('a lapse record on the last attempt fails the job for every peer', () => {
    let doc = claim(table(), p1, 1)
    doc = failJob(doc, p1, one(doc), 'x', 20)
    doc = claimJob(doc, p2, one(doc), { score: 1, host: 'h2' }, 30)
    doc = lapseJob(doc, p3, one(doc), p2.id, 40)
    assert.equal(one(doc).status, 'failed')
    assert.match(one(doc).error ?? '', /lease lapsed/)
  })

  it('a release gives the job back without using an attempt', () => {
    let doc = claim(table(), p1, 1)
    doc = releaseJob(doc, p1, one(doc), 20)
    const j = one(doc)
    assert.equal(j.status, 'pending')
    assert.equal(j.attempt, 1)
    assert.equal(j.nextRound, 2)
    doc = claimJob(doc, p2, j, { score: 1, host: 'h2' }, 30)
    assert.equal(one(doc).owner, p2.id)
    assert.equal(one(doc).attempt, 1)
  })

  it('cancel wins over everything in its generation; requeue starts a new one', () => {
    let doc = claim(table(), p1, 1)
    doc = startJob(doc, p1, one(doc), 20)
    doc = appendRecords(doc, cancelRecords(op, one(doc), 25), 25)
    doc = completeJob(doc, p1, { id: one(doc).id, generation: 0, round: 1 }, RESULT, 30)
    assert.equal(one(doc).status, 'cancelled')
    doc = appendRecords(doc, requeueRecords(op, one(doc), {}, 40), 40)
    let j = one(doc)
    assert.equal(j.status, 'pending')
    assert.equal(j.generation, 1)
    assert.equal(j.attempt, 1)
    assert.equal(j.bundle, null)
    // Results of the old generation no longer count.
    doc = completeJob(doc, p1, { id: j.id, generation: 0, round: 1 }, RESULT, 50)
    assert.equal(one(doc).status, 'pending')
    doc = claimJob(doc, p2, one(doc), { score: 1, host: 'h2' }, 60)
    j = one(doc)
    assert.equal(j.generation, 1)
    assert.equal(j.round, 1)
    assert.equal(j.owner, p2.id)
  })

  it('refuses to requeue a running job without force', () => {
    let doc = claim(table(), p1, 1)
    doc = startJob(doc, p1, one(doc), 20)
    assert.throws(() => appendRecords(doc, requeueRecords(op, one(doc), {}, 30), 30), RequeueRunningError)
    doc = appendRecords(doc, requeueRecords(op, one(doc), { force: true }, 30), 30)
    assert.equal(one(doc).generation, 1)
    assert.equal(one(doc).status, 'pending')
  })

  it('ignores operator commands and specs not signed by an operator key', () => {
    let doc = claim(table(), p1, 1)
    const before = JSON.stringify(derive(doc))
    doc = appendRecords(doc, cancelRecords(intruder, one(doc), 20), 20)
    doc = appendRecords(doc, requeueRecords(intruder, one(doc), { force: true }, 21), 21)
    const extra = manifestWithJobs(3, []).jobs
    doc = appendRecords(doc, manifestRecords(intruder, { jobs: extra }, [], 22).records, 22)
    assert.equal(JSON.stringify(derive(doc)), before)
  })

  it('ignores a spec whose id does not hash from its identity', () => {
    const spec = manifestWithJobs(1, [op.id]).jobs[0]
    const { id: _id, ...body } = spec
    const forged = encodeRecord({ t: 'spec', j: 'b'.repeat(64), at: 1, spec: body }, op)
    assert.equal(derive(appendRecords(createJobTable(), [forged])).length, 0)
  })

  it('ignores claims from hosts the job or host policy excludes', () => {
    let doc = table(1, 'allowed_hosts = ["gpu-box"]\n')
    doc = claim(doc, p1, 9, 'laptop')
    assert.equal(one(doc).status, 'pending')
    doc = claim(doc, p2, 1, 'gpu-box')
    assert.equal(one(doc).owner, p2.id)
    const denyKnn = {
      operatorKeys: trust.operatorKeys,
      hosts: new Map([['gpu-box', { allow_jobs: [], deny_jobs: ['knn' as const], max_concurrent: 1 }]]),
    }
    assert.equal(deriveJobs(doc, freshView(1000), denyKnn)[0].status, 'pending')
  })

  it('survives a document whose shape was broken by a peer', () => {
    const doc = table(2)
    const junk = appendRecords(doc, [new Uint8Array([1, 2, 3]), new Uint8Array(200)])
    assert.equal(derive(junk).length, 2)
    assert.deepEqual(deriveJobs({ v: 1 } as unknown as JobTable, freshView(0), trust), [])
  })
})
