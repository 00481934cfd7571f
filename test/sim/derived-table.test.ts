import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Automerge from '@automerge/automerge'
import fc from 'fast-check'
import {
  appendRecords,
  createJobTable,
  type DerivedJob,
  DerivedTable,
  deriveJobs,
  encodeRecord,
  type JobTable,
  LeaseTable,
  manifestRecords,
  recordsOf,
  type UnsignedRecord,
} from '../../crdt/index.ts'
import { makeSigners, manifestWithJobs } from '../helpers/job-table.ts'

const LEASE = 1000

type Op =
  | {
      kind: 'record'
      peer: number
      job: number
      t: 'claim' | 'start' | 'complete' | 'fail' | 'release'
      g: number
      r: number
      score: number
    }
  | { kind: 'lapse'; peer: number; owner: number; job: number; g: number; r: number }
  | { kind: 'operator'; job: number; t: 'cancel' | 'requeue'; g: number }
  | { kind: 'renew'; peer: number; job: number; g: number; r: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'check' }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('record' as const),
      peer: fc.nat(3),
      job: fc.nat(2),
      t: fc.constantFrom(
        'claim' as const,
        'claim' as const,
        'start' as const,
        'complete' as const,
        'fail' as const,
        'release' as const,
      ),
      g: fc.nat(1),
      r: fc.integer({ min: 1, max: 4 }),
      score: fc.nat(3),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('lapse' as const),
      peer: fc.nat(3),
      owner: fc.nat(3),
      job: fc.nat(2),
      g: fc.nat(1),
      r: fc.integer({ min: 1, max: 4 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('operator' as const),
      job: fc.nat(2),
      t: fc.constantFrom('cancel' as const, 'requeue' as const),
      g: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('renew' as const),
      peer: fc.nat(3),
      job: fc.nat(2),
      g: fc.nat(1),
      r: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 1500 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('check' as const) }) },
)

/** Everything `deriveJobs` says, except `leaseExpiresAt`, which the table refreshes lazily. */
function comparable(j: DerivedJob) {
  const { leaseExpiresAt: _lease, ...rest } = j
  return rest
}

describe('DerivedTable', async () => {
  const [op, ...peers] = await makeSigners(5)
  const trust = { operatorKeys: new Set([op.id]) }
  const base = appendRecords(createJobTable(), manifestRecords(op, manifestWithJobs(3, [op.id]), [], 0).records, 0)
  const ids = deriveJobs(base, { now: 0, leaseMs: LEASE, lastSeen: () => undefined }, trust).map((j) => j.id)

  const replay = (ops: Op[]) => {
    // A fresh copy: an Automerge document can be changed only once.
    let doc: JobTable = Automerge.clone(base)
    let now = 0
    const leases = new LeaseTable({ leaseMs: LEASE })
    const table = new DerivedTable({ trust })
    table.add(recordsOf(doc))
    const check = () => {
      const view = leases.view(now)
      table.refresh(view)
      const whole = deriveJobs(doc, view, trust)
      assert.deepEqual(table.jobs().map(comparable), whole.map(comparable))
      // Lease clocks start where the node starts them: after each derivation.
      leases.observe(whole, now)
      assert.deepEqual(
        [...table.pending()].map((j) => j.id),
        whole.filter((j) => j.status === 'pending').map((j) => j.id),
      )
      const never = deriveJobs(doc, { now, leaseMs: LEASE, lastSeen: () => undefined }, trust)
      const lapsed = whole
        .filter(
          (j, i) =>
            (j.status === 'pending' || j.status === 'failed') &&
            (never[i].status === 'claimed' || never[i].status === 'running'),
        )
        .map((j) => j.id)
        .sort()
      assert.deepEqual([...table.lapsed()].map((l) => l.job.id).sort(), lapsed)
    }
    for (const o of ops) {
      let rec: UnsignedRecord | undefined
      let signer = op
      if (o.kind === 'record') {
        signer = peers[o.peer]
        const common = { j: ids[o.job], at: now, g: o.g, r: o.r }
        rec =
          o.t === 'claim'
            ? { t: 'claim', ...common, score: o.score, host: `h${o.peer}` }
            : o.t === 'complete'
              ? { t: 'complete', ...common, bundle: 'b', val: 0.5, test: 0.5, fit_s: 1, host: `h${o.peer}` }
              : o.t === 'fail'
                ? { t: 'fail', ...common, error: 'x' }
                : { t: o.t, ...common }
      } else if (o.kind === 'lapse') {
        signer = peers[o.peer]
        rec = { t: 'lapse', j: ids[o.job], at: now, g: o.g, r: o.r, owner: peers[o.owner].id }
      } else if (o.kind === 'operator') {
        rec =
          o.t === 'cancel'
            ? { t: 'cancel', j: ids[o.job], at: now, g: o.g }
            : { t: 'requeue', j: ids[o.job], at: now, g: o.g + 1, force: true }
      } else if (o.kind === 'renew') {
        leases.renew(ids[o.job], o.g, o.r, peers[o.peer].id, now)
        table.touch(ids[o.job])
      } else if (o.kind === 'advance') now += o.ms
      else check()
      if (rec !== undefined) {
        const bytes = encodeRecord(rec, signer)
        doc = appendRecords(doc, [bytes], now)
        table.add([bytes])
      }
    }
    check()
  }

  it('derives incrementally exactly what deriveJobs derives from the whole document (property)', () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 5, maxLength: 40 }), replay), { numRuns: 200 })
  })

  it('derives a superseded round like the whole document does (a case the property found)', () => {
    replay([
      { kind: 'record', peer: 0, job: 0, t: 'claim', g: 0, r: 1, score: 0 },
      { kind: 'check' },
      { kind: 'check' },
      { kind: 'record', peer: 0, job: 0, t: 'claim', g: 0, r: 2, score: 0 },
      { kind: 'check' },
      { kind: 'advance', ms: 1001 },
    ])
  })

  it('ignores duplicates and junk, and reports its lease deadline', () => {
    const table = new DerivedTable({ trust })
    assert.equal(table.add(recordsOf(base)), 3)
    assert.equal(table.add(recordsOf(base)), 0)
    assert.equal(table.add([new Uint8Array([1, 2, 3]), 'text', null]), 0)
    table.refresh({ now: 0, leaseMs: LEASE, lastSeen: () => undefined })
    assert.equal(table.jobCount, 3)
    assert.equal(table.nextDeadline(), undefined)
    const claim = encodeRecord({ t: 'claim', j: ids[0], at: 5, g: 0, r: 1, score: 1, host: 'h' }, peers[0])
    table.add([claim])
    table.refresh({ now: 10, leaseMs: LEASE, lastSeen: () => undefined })
    assert.equal(table.nextDeadline(), 10 + LEASE)
    assert.equal(table.activeCount, 1)
    assert.deepEqual(
      [...table.owned(peers[0].id)].map((j) => j.id),
      [ids[0]],
    )
  })
})
