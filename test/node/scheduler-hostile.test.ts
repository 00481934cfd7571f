import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { DerivedTable, encodeRecord, LeaseTable, manifestRecords, type Signer } from '../../crdt/index.ts'
import { jobId } from '../../manifests/index.ts'
import { type HostCapability, isSupported, Scheduler } from '../../node/index.ts'
import { makeSigners, manifestWithJobs } from '../helpers/job-table.ts'

const PROTO = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'] as const

const cap = (hostname: string): HostCapability => ({
  hostname,
  cuda: true,
  vram_gib: 24,
  ram_gib: 64,
  cores: 16,
  runtimes: ['xgboost', 'tfjs'],
})

describe('Scheduler over a table with hostile jobs', async () => {
  const [op, m1, m2, me] = await makeSigners(4)
  const base = manifestWithJobs(1, [op.id]).jobs[0]
  const sign = (payload: Record<string, unknown>, s: Signer) => encodeRecord(payload as never, s)

  it('never throws, claims only jobs this version supports, and honours policies keyed by any hostname (property)', () => {
    const job = fc.record({
      model: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom('knn', 'gbt', 'mlp') },
        fc.constantFrom(...PROTO, 'future'),
        fc.string(),
      ),
      hyper: fc.oneof(
        { weight: 3, arbitrary: fc.constant({}) },
        fc.constant({ k: 3 }),
        fc.constant(JSON.parse('{"__proto__": {"k": 1}}')),
        fc.dictionary(fc.oneof(fc.constantFrom(...PROTO), fc.string()), fc.jsonValue({ maxDepth: 2 })),
      ),
      seed: fc.nat(1000),
      priority: fc.oneof(fc.integer(), fc.constantFrom(1e308, -1e308)),
      claims: fc.array(fc.record({ host: fc.constantFrom(...PROTO, 'me'), r: fc.integer({ min: 1, max: 2 }) }), {
        maxLength: 2,
      }),
    })
    let claimedAny = 0
    fc.assert(
      fc.property(fc.array(job, { minLength: 1, maxLength: 6 }), fc.constantFrom(...PROTO, 'me'), (jobs, myHost) => {
        const specs = jobs.map((j) => {
          const s = { ...base, model: j.model, hyper: j.hyper, seed: j.seed, priority: j.priority }
          return { ...s, id: jobId(s) }
        })
        const records = manifestRecords(op, { jobs: specs }, [], 1).records
        jobs.forEach((j, i) => {
          for (const c of j.claims)
            records.push(
              sign({ t: 'claim', j: specs[i].id, at: 2, g: 0, r: c.r, score: 1, host: c.host }, i % 2 ? m1 : m2),
            )
        })
        const hosts = new Map([
          [myHost, { allow_jobs: [], deny_jobs: ['gbt' as const], max_concurrent: 3 }],
          ['constructor', { allow_jobs: ['knn' as const], deny_jobs: [], max_concurrent: 1 }],
        ])
        const trust = { operatorKeys: new Set([op.id]), hosts }
        const table = new DerivedTable({ trust })
        table.add(records)
        const leases = new LeaseTable({ leaseMs: 10_000 })
        table.refresh(leases.view(5))
        const scheduler = new Scheduler({ peerId: me.id, capability: cap(myHost), hosts, random: () => 0.5 })
        const claims = scheduler.decide(table, 5).actions.flatMap((a) => (a.type === 'claim' ? [a] : []))
        assert.ok(claims.length <= (hosts.get(myHost)?.max_concurrent ?? 1))
        claimedAny += claims.length
        for (const c of claims) {
          const claimed = table.get(c.job)
          assert.ok(claimed !== undefined && claimed.status === 'pending')
          assert.ok(isSupported(claimed.spec), `claimed an unsupported job (${claimed.spec.model})`)
          assert.notEqual(claimed.spec.model, 'gbt', 'claimed a model its policy denies')
        }
        assert.equal(typeof scheduler.sizes().order, 'number')
      }),
      { numRuns: 60 },
    )
    assert.ok(claimedAny > 5, `${claimedAny} claims in all`)
  })
})
