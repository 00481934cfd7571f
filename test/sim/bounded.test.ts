import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FAULTS, runSimulation } from '../../sim/index.ts'

// A long run: every fault, a heavy share of operator requeues, cancels and reloads (many
// generations), crashes and restarts. Every map a peer keeps must stay bounded by the live
// jobs and peers, whatever the history.
describe('per-peer state stays bounded over a long run', () => {
  it('every map is bounded by jobs or peers, and the run is correct', async () => {
    const peers = 8
    const jobs = 80
    const { result, details } = await runSimulation({
      peers,
      jobs,
      seed: 11,
      faults: FAULTS,
      durationS: 150,
      config: { opsShare: 0.25, reloadShare: 0.5 },
    })
    assert.deepEqual(result.invariant_violations, [])
    assert.ok(result.converged)
    assert.ok(
      details.operator.requeues >= 10 && details.restarts >= 5,
      JSON.stringify([details.operator, details.restarts]),
    )
    const max = details.maxMapSizes
    const bound: Record<string, number> = {
      headsInbox: peers,
      satisfied: peers,
      syncStates: peers,
      syncBudget: peers,
      fresh: peers,
      linked: peers,
      known: peers,
      wants: 1000,
      queuedChunks: 2000,
      leases: 4 * jobs,
      ownClaims: 3,
      runs: 3,
      'scheduler.claims': 3,
      'scheduler.runs': 3,
      'scheduler.backoffs': jobs,
      'scheduler.lapseDue': jobs,
      'scheduler.written': jobs,
      'scheduler.order': jobs,
    }
    for (const [k, v] of Object.entries(max)) {
      assert.ok(k in bound, `a new map ${k}: give it a bound here`)
      assert.ok(v <= bound[k], `${k} reached ${v} (bound ${bound[k]})`)
    }
  })
})
