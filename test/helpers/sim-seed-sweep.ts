import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FAULTS, runSimulation } from '../../sim/index.ts'

/**
 * Registers a test that runs `count` seeds from `first` with every fault on and asserts no
 * invariant is violated, every run converges and finishes, and the faults really happened.
 *
 * @remarks The bar is at least 300 seeds; the suite splits them over several files
 * so that the test runner spreads them over the cores.
 */
export function sweepAllFaultSeeds(first: number, count: number): void {
  describe(`all faults, seeds ${first}..${first + count - 1}`, () => {
    it('violates no invariant, converges and finishes every job', async () => {
      const failures: string[] = []
      let crashes = 0
      let partitions = 0
      for (let seed = first; seed < first + count; seed++) {
        const peers = 2 + (seed % 7)
        const jobs = 5 + ((seed * 7) % 26)
        const { result, details } = await runSimulation({ peers, jobs, seed, faults: FAULTS })
        crashes += details.faults.crashes
        partitions += details.faults.partitions
        const bad = result.invariant_violations.map((v) => `[${v.invariant}] ${v.message}`)
        if (!result.converged) bad.push('did not converge')
        if (result.unfinished > 0) bad.push(`${result.unfinished} jobs unfinished`)
        if (bad.length > 0) failures.push(`seed ${seed} (${peers} peers, ${jobs} jobs): ${bad.join('; ')}`)
      }
      assert.deepEqual(failures, [])
      assert.ok(
        crashes > count / 2 && partitions > count / 4,
        `faults happened: ${crashes} crashes, ${partitions} partitions`,
      )
    })
  })
}
