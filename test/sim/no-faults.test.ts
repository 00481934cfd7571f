import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { runSimulation } from '../../sim/index.ts'

// The bar without faults: no duplicate run and every job completed, for every seed.
describe('without faults', () => {
  it('runs every job exactly once, with no overlap at all, for many seeds and fleet sizes', async () => {
    const failures: string[] = []
    for (let seed = 1; seed <= 40; seed++) {
      const peers = 1 + (seed % 12)
      const jobs = 1 + ((seed * 11) % 45)
      const { result: r, details: d } = await runSimulation({ peers, jobs, seed, faults: [] })
      const problems: string[] = []
      if (r.invariant_violations.length > 0) problems.push(r.invariant_violations.map((v) => v.message).join('; '))
      if (r.duplicate_runs !== 0) problems.push(`${r.duplicate_runs} duplicate runs`)
      if (r.overlaps_across_partitions !== 0 || d.briefOverlaps !== 0) problems.push('overlapping runs')
      if (r.completed !== r.jobs || r.unfinished !== 0) problems.push(`${r.completed}/${r.jobs} completed`)
      if (r.runs_started !== r.jobs) problems.push(`${r.runs_started} runs for ${r.jobs} jobs`)
      if (r.max_attempt_seen !== 1 || r.failed !== 0 || r.cancelled !== 0) problems.push('retries, failures or cancels')
      if (!r.converged || r.messages_dropped !== 0) problems.push('not converged, or messages dropped')
      if (problems.length > 0) failures.push(`seed ${seed} (${peers} peers, ${jobs} jobs): ${problems.join(', ')}`)
    }
    assert.deepEqual(failures, [])
  })
})
