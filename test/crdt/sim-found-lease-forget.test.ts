import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  appendRecords,
  claimJob,
  createJobTable,
  deriveJobs,
  LeaseTable,
  manifestRecords,
  startJob,
} from '../../crdt/index.ts'
import { makeSigners, manifestWithJobs } from '../helpers/job-table.ts'

// Found by the simulator: observing the derived table right after a lease lapsed forgot
// the lapsed round's last sighting (it was no longer "active"), so the next derivation saw
// the round as fresh and alive again; on a final attempt the lapse flickered away before
// any observer had recorded it.
describe('LeaseTable after a lease lapsed', async () => {
  const [op, owner] = await makeSigners(2)
  const trust = { operatorKeys: new Set([op.id]) }
  const leaseMs = 30_000

  it('keeps the lapsed round lapsed across observe()', () => {
    let doc = appendRecords(createJobTable(), manifestRecords(op, manifestWithJobs(1, [op.id]), [], 0).records, 0)
    const leases = new LeaseTable({ leaseMs })
    const derive = (now: number) => deriveJobs(doc, leases.view(now), trust)
    doc = claimJob(doc, owner, derive(0)[0], { score: 1, host: 'h1' }, 10)
    doc = startJob(doc, owner, { ...derive(10)[0] }, 20)
    leases.observe(derive(100), 100)
    assert.equal(derive(100)[0].status, 'running')
    const lapsedAt = 100 + leaseMs + 1
    const lapsed = derive(lapsedAt)
    assert.equal(lapsed[0].status, 'pending')
    assert.equal(lapsed[0].attempt, 2)
    leases.observe(lapsed, lapsedAt)
    assert.equal(derive(lapsedAt + 1)[0].status, 'pending', 'the lapse must not be forgotten')
    assert.equal(derive(lapsedAt + leaseMs)[0].status, 'pending')
  })

  it('still forgets rounds that are no longer current', () => {
    let doc = appendRecords(createJobTable(), manifestRecords(op, manifestWithJobs(1, [op.id]), [], 0).records, 0)
    const leases = new LeaseTable({ leaseMs })
    const derive = (now: number) => deriveJobs(doc, leases.view(now), trust)
    doc = claimJob(doc, owner, derive(0)[0], { score: 1, host: 'h1' }, 10)
    leases.observe(derive(10), 10)
    const id = derive(10)[0].id
    assert.equal(leases.view(10).lastSeen(id, 0, 1, owner.id), 10)
    // Round 1 lapses; a new claim makes round 2 current; round 1 is forgotten a lease later.
    const later = 10 + leaseMs + 1
    doc = claimJob(doc, owner, derive(later)[0], { score: 1, host: 'h1' }, later)
    leases.observe(derive(later), later)
    leases.observe(derive(later + leaseMs + 1), later + leaseMs + 1)
    assert.equal(leases.view(later + leaseMs + 1).lastSeen(id, 0, 1, owner.id), undefined)
    assert.notEqual(leases.view(later + leaseMs + 1).lastSeen(id, 0, 2, owner.id), undefined)
  })
})
