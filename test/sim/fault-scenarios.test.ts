import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Fault, runSimulation, type SimReport } from '../../sim/index.ts'

/** Runs one fault alone and checks that the invariants held and the job table still finished. */
async function scenario(fault: Fault, seed = 7): Promise<SimReport> {
  const report = await runSimulation({ peers: 8, jobs: 60, seed, faults: [fault] })
  const r = report.result
  assert.deepEqual(
    r.invariant_violations.map((v) => `[${v.invariant}] ${v.message}`),
    [],
  )
  assert.equal(r.unfinished, 0)
  assert.ok(r.converged)
  return report
}

// Each fault must really happen, or the all-faults sweep proves nothing.
describe('each fault happens and the fleet survives it', () => {
  it('crash: peers crash and restart from what they persisted', async () => {
    const { details: d } = await scenario('crash')
    assert.ok(d.faults.crashes >= 2, `${d.faults.crashes} crashes`)
    assert.ok(d.restarts >= d.faults.crashes - 1, `${d.restarts} restarts`)
    assert.ok(d.syncSessions > 0, 'restarted peers synced')
  })

  it('partition: links are cut (some one way) and heal', async () => {
    const { result: r, details: d } = await scenario('partition', 3)
    assert.ok(d.faults.partitions >= 1)
    assert.ok(r.messages_dropped > 0, 'messages across the cut are lost')
    assert.ok(d.syncSessions > 0, 'healed links sync')
  })

  it('drop: messages are lost and pulled again', async () => {
    const { result: r, details: d } = await scenario('drop')
    assert.ok(r.messages_dropped > r.messages_sent * 0.02, `${r.messages_dropped} of ${r.messages_sent} dropped`)
    assert.ok(d.wantsSent > 0, 'missing changes were asked for')
    assert.equal(r.completed, r.jobs)
  })

  it('dup: messages arrive twice', async () => {
    const { result: r, details: d } = await scenario('dup')
    assert.ok(d.messagesDuplicated > r.messages_sent * 0.01, `${d.messagesDuplicated} duplicated`)
    assert.equal(r.completed, r.jobs)
    assert.equal(r.duplicate_runs, 0)
  })

  it('reorder: messages overtake each other', async () => {
    const { result: r, details: d } = await scenario('reorder')
    assert.ok(d.messagesReordered > 100, `${d.messagesReordered} reordered`)
    assert.equal(r.completed, r.jobs)
  })

  it('skew: clocks disagree by minutes and drift', async () => {
    const { result: r, details: d } = await scenario('skew')
    assert.ok(d.clockSpreadMs > 60_000, `clock spread ${d.clockSpreadMs} ms`)
    assert.equal(r.completed, r.jobs)
    assert.equal(r.duplicate_runs, 0)
  })

  it('trainer: runs fail (non-zero exit) or run slow, and jobs are retried up to max_attempts', async () => {
    const { result: r, details: d } = await scenario('trainer')
    assert.ok(d.trainerFailures > 0 && d.slowRuns > 0, `${d.trainerFailures} failures, ${d.slowRuns} slow`)
    assert.ok(r.runs_started > r.jobs, 'failed runs were retried')
    assert.ok(r.max_attempt_seen >= 2)
    assert.equal(r.completed + r.failed, r.jobs)
  })

  it('ops: the operator cancels, requeues and reloads mid-run', async () => {
    const { result: r, details: d } = await scenario('ops')
    assert.ok(d.operator.cancels > 0 && d.operator.requeues > 0, JSON.stringify(d.operator))
    assert.equal(d.operator.loads, 2, 'the first load and a reload')
    assert.ok(r.cancelled > 0)
    assert.equal(r.completed + r.cancelled, r.jobs)
  })
})
