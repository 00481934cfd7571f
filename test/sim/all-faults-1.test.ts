import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FAULTS, runSimulation } from '../../sim/index.ts'

// The bar: with every fault on, no invariant is violated over at least 300 seeds.
// Four files of 80 seeds each, so that the test runner spreads them over the cores.
const FIRST = 1000
const COUNT = 80

describe(`all faults, seeds ${FIRST}..${FIRST + COUNT - 1}`, () => {
  it('violates no invariant, converges and finishes every job', async () => {
    const failures: string[] = []
    let crashes = 0
    let partitions = 0
    for (let seed = FIRST; seed < FIRST + COUNT; seed++) {
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
      crashes > COUNT / 2 && partitions > COUNT / 4,
      `faults happened: ${crashes} crashes, ${partitions} partitions`,
    )
  })
})
