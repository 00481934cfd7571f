import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { runSimulation } from '../../sim/index.ts'

describe('forged operator commands', () => {
  it('have no effect: nothing is cancelled, requeued, added or reprioritised', async () => {
    let forged = 0
    for (const seed of [1, 2, 3]) {
      // Forged cancels, requeues, new jobs, priority changes, tampered and impersonated
      // operator records, by fleet members and by strangers, through random peers.
      const { result: r, details: d } = await runSimulation({
        peers: 6,
        jobs: 40,
        seed,
        faults: [],
        config: { forgeries: 40 },
      })
      forged += d.operator.forged
      assert.deepEqual(
        r.invariant_violations.map((v) => v.message),
        [],
      )
      assert.equal(r.cancelled, 0)
      assert.equal(r.completed, r.jobs)
      assert.equal(r.runs_started, r.jobs, 'no job ran twice (a forged requeue would rerun it)')
    }
    assert.ok(forged >= 60, `${forged} forged commands`)
  })
})
