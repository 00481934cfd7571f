import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Automerge from '@automerge/automerge'
import {
  appendRecords,
  createJobTable,
  type DerivedJob,
  DerivedTable,
  manifestRecords,
  recordsOf,
} from '../../crdt/index.ts'
import type { JobSpec } from '../../manifests/index.ts'
import type { HostCapability } from '../../node/index.ts'
import {
  type CheckedPeer,
  DEFAULT_SIM_CONFIG,
  InvariantChecker,
  Prng,
  runSimulation,
  SimNetwork,
  Trace,
} from '../../sim/index.ts'
import { makeSigners, manifestWithJobs } from '../helpers/job-table.ts'

const CPU: HostCapability = {
  hostname: 'h0',
  cuda: false,
  vram_gib: 0,
  ram_gib: 16,
  cores: 8,
  runtimes: ['xgboost', 'tfjs'],
}

describe('the invariant checker has teeth', async () => {
  const [op] = await makeSigners(1)
  const trust = { operatorKeys: new Set([op.id]) }
  const doc = appendRecords(
    createJobTable(),
    manifestRecords(op, manifestWithJobs(1, [op.id], 'require_cuda = true'), [], 0).records,
    0,
  )
  const table = new DerivedTable({ trust })
  table.add(recordsOf(doc))
  table.refresh({ now: 0, leaseMs: 1000, lastSeen: () => undefined })
  const job = table.jobs()[0]

  function world() {
    const network = new SimNetwork<Uint8Array>(3, new Prng(1), { ...DEFAULT_SIM_CONFIG }, () => {})
    network.refresh(0)
    const checker = new InvariantChecker({
      network,
      trace: new Trace(),
      policies: new Map([['h0', { allow_jobs: [], deny_jobs: [], max_concurrent: 1 }]]),
      graceMs: 1000,
    })
    const peer = (index: number, cap: HostCapability = { ...CPU, hostname: `h${index}`, cuda: true, vram_gib: 8 }) =>
      ({ index, capability: cap, table, up: true, heads: () => Automerge.getHeads(doc) }) as unknown as CheckedPeer
    return { network, checker, peer }
  }
  const ref = { job: job.id, generation: 0, round: 1 }

  it('1: a run overlapping another while connected beyond the grace is a duplicate; across a cut it is not', () => {
    const { network, checker, peer } = world()
    checker.legitSpec(job.spec as JobSpec)
    checker.onRunStart(peer(1), ref, 1, 0)
    checker.onRunStart(peer(2), ref, 1, 100)
    checker.evaluate(500)
    assert.equal(checker.violations.length, 0, 'within the grace')
    checker.evaluate(1100)
    assert.deepEqual(
      checker.violations.map((v) => v.invariant),
      [1],
    )
    assert.equal(checker.stats.duplicateRuns, 1)

    const w = world()
    w.checker.onRunStart(w.peer(1), ref, 1, 0)
    w.network.setBlocked(1, 2, true)
    w.network.refresh(50)
    w.checker.onRunStart(w.peer(2), ref, 1, 100)
    w.checker.evaluate(5000)
    w.checker.onRunStop(w.peer(2), ref, 5000)
    assert.equal(w.checker.violations.length, 0)
    assert.equal(w.checker.stats.overlapsAcrossPartitions, 1)
    void network
  })

  it('7: a run on a host the constraints exclude, or beyond max_concurrent', () => {
    const { checker, peer } = world()
    checker.onRunStart(peer(0, CPU), ref, 1, 0)
    assert.ok(checker.violations.some((v) => v.invariant === 7 && v.message.includes('constraints exclude')))
    checker.onRunStart(peer(0, { ...CPU, cuda: true, vram_gib: 8 }), { ...ref, job: ref.job }, 1, 1)
    assert.ok(checker.violations.some((v) => v.invariant === 7 && v.message.includes('max_concurrent')))
  })

  it('6 and 2: states no operator command explains, attempts past max_attempts', () => {
    const { checker, peer } = world()
    checker.legitSpec(job.spec as JobSpec)
    const bad: DerivedJob[] = [
      { ...job, status: 'cancelled' },
      { ...job, generation: 1 },
      { ...job, spec: { ...job.spec, priority: 1000 } },
      { ...job, id: 'f'.repeat(64) as DerivedJob['id'] },
      { ...job, attempt: 9 },
      { ...job, status: 'failed', attemptsUsed: 0 },
    ]
    checker.onDerived(peer(1), bad, 0)
    assert.deepEqual(
      checker.violations.map((v) => v.invariant),
      [6, 6, 6, 6, 2, 2],
    )
    const ok = world()
    ok.checker.legitSpec(job.spec as JobSpec)
    ok.checker.legitCancel(job.id, 0)
    ok.checker.onDerived(ok.peer(1), [job, { ...job, status: 'cancelled' }], 0)
    assert.equal(ok.checker.violations.length, 0)
  })

  it('1 in a real run: without a settle window peers run the same job at once', async () => {
    const { result } = await runSimulation({
      peers: 8,
      jobs: 6,
      seed: 1,
      faults: [],
      config: { settleMs: 0, latencyMinMs: 100, latencyMaxMs: 300 },
    })
    assert.ok(result.duplicate_runs > 0)
    assert.ok(result.invariant_violations.some((v) => v.invariant === 1 && v.events.length > 0))
  })
})
