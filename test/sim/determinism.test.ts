import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FAULTS, runSimulation, type SimResult } from '../../sim/index.ts'

const withoutWall = (r: SimResult) => JSON.stringify({ ...r, wall_ms: 0 })

describe('determinism', () => {
  it('the same seed gives the same JSON (except wall_ms), with every fault on', async () => {
    const opts = { peers: 7, jobs: 30, seed: 4242, faults: FAULTS }
    const a = await runSimulation(opts)
    const b = await runSimulation(opts)
    assert.equal(withoutWall(a.result), withoutWall(b.result))
    assert.deepEqual(a.details, b.details)
    assert.ok(a.details.faults.crashes > 0 || a.details.faults.partitions > 0, 'faults were injected')
  })

  it('another seed gives another run', async () => {
    const a = await runSimulation({ peers: 7, jobs: 30, seed: 1, faults: FAULTS })
    const b = await runSimulation({ peers: 7, jobs: 30, seed: 2, faults: FAULTS })
    assert.notEqual(withoutWall(a.result).replace(/"seed":\d+/, ''), withoutWall(b.result).replace(/"seed":\d+/, ''))
  })
})
