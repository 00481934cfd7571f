import assert from 'node:assert/strict'
import { it } from 'node:test'
import { FAULTS, runSimulation } from '../../sim/index.ts'

/** One all-faults run of a larger fleet: no invariant violated, converged, every job finished. */
export function largeFleetSeed(peers: number, jobs: number, seed: number): void {
  it(`${peers} peers x ${jobs} jobs, seed ${seed}, every fault`, { timeout: 600_000 }, async () => {
    const { result, details } = await runSimulation({ peers, jobs, seed, faults: FAULTS })
    assert.deepEqual(
      result.invariant_violations.map((v) => `[${v.invariant}] ${v.message}`),
      [],
    )
    assert.ok(result.converged, 'converged')
    assert.equal(result.unfinished, 0)
    assert.ok(details.faults.crashes > 0 && details.faults.partitions > 0, JSON.stringify(details.faults))
  })
}
