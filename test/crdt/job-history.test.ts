import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  decodeRecord,
  deriveRecords,
  encodeRecord,
  jobHistory,
  type LocalView,
  type Signer,
  type UnsignedRecord,
  type VerifiedRecord,
} from '../../crdt/index.ts'
import { parseManifest } from '../../manifests/index.ts'
import { freshView, makeSigners } from '../helpers/job-table.ts'

const spec = parseManifest(
  '[fleet]\nname = "t"\ndataset = "d"\n[[jobs]]\nmodel = "knn"\nmode = "realistic"\nmax_attempts = 3\n',
  'history.toml',
).jobs[0]
const { id: j, ...body } = spec
/** A record without its job id (every record here is of the one job). */
type RecordBody = UnsignedRecord extends infer U ? (U extends unknown ? Omit<U, 'j'> : never) : never

describe('jobHistory', async () => {
  const [op, p1, p2, p3, intruder] = await makeSigners(5)
  const trust = { operatorKeys: new Set([op.id]) }
  // deriveRecords takes bytes: keep each verified record's bytes beside it.
  const bytesOf = new Map<VerifiedRecord, Uint8Array>()
  const history = (records: VerifiedRecord[], view: LocalView = freshView(1_000_000)) =>
    jobHistory(records, { spec, operatorKeys: trust.operatorKeys, view })
  const derived = (records: VerifiedRecord[], view: LocalView = freshView(1_000_000)) =>
    deriveRecords(
      records.map((v) => bytesOf.get(v)),
      view,
      trust,
    )[0]
  const make = (signer: Signer, r: RecordBody): VerifiedRecord => {
    const bytes = encodeRecord({ ...r, j } as unknown as UnsignedRecord, signer)
    const v = decodeRecord(bytes) as VerifiedRecord
    bytesOf.set(v, bytes)
    return v
  }
  const specV = make(op, { t: 'spec', at: 1, spec: body })

  it('lists a lapsed, a failed, a released and a completed attempt, agreeing with deriveJobs', () => {
    const records = [
      specV,
      make(p1, { t: 'claim', at: 10, g: 0, r: 1, score: 5, host: 'h1' }),
      make(p2, { t: 'claim', at: 11, g: 0, r: 1, score: 3, host: 'h2' }),
      make(p1, { t: 'start', at: 12, g: 0, r: 1 }),
      make(p2, { t: 'lapse', at: 50, g: 0, r: 1, owner: p1.id }),
      make(p2, { t: 'claim', at: 60, g: 0, r: 2, score: 3, host: 'h2' }),
      make(p2, { t: 'start', at: 61, g: 0, r: 2 }),
      make(p2, { t: 'fail', at: 70, g: 0, r: 2, error: 'boom' }),
      make(p3, { t: 'claim', at: 80, g: 0, r: 3, score: 1, host: 'h3' }),
      make(p3, { t: 'release', at: 81, g: 0, r: 3 }),
      make(p3, { t: 'claim', at: 90, g: 0, r: 4, score: 1, host: 'h3' }),
      make(p3, { t: 'start', at: 91, g: 0, r: 4 }),
      make(p3, {
        t: 'complete',
        at: 99,
        g: 0,
        r: 4,
        bundle: 'bafyx',
        val: 0.9,
        test: 0.8,
        fit_s: 5,
        host: 'h3',
      }),
    ]
    const h = history([...records].reverse())
    assert.deepEqual(
      h.map((a) => [a.generation, a.attempt, a.round, a.owner, a.host, a.outcome]),
      [
        [0, 1, 1, p1.id, 'h1', 'lapsed'],
        [0, 2, 2, p2.id, 'h2', 'failed'],
        [0, 3, 3, p3.id, 'h3', 'released'],
        [0, 3, 4, p3.id, 'h3', 'completed'],
      ],
    )
    assert.deepEqual(
      h.map((a) => [a.claimed_at, a.started_at, a.ended_at, a.error]),
      [
        [10, 12, 50, 'lease lapsed on h1'],
        [60, 61, 70, 'boom'],
        [80, null, 81, null],
        [90, 91, 99, null],
      ],
    )
    const job = derived(records)
    assert.equal(job.status, 'completed')
    assert.equal(job.attempt, h[h.length - 1].attempt)
  })

  it('a round superseded by a later one lapsed; a job out of attempts shows only the attempts that counted', () => {
    const records = [
      specV,
      make(p1, { t: 'claim', at: 10, g: 0, r: 1, score: 5, host: 'h1' }),
      make(p2, { t: 'claim', at: 40, g: 0, r: 2, score: 5, host: 'h2' }),
      make(p2, { t: 'fail', at: 45, g: 0, r: 2, error: 'e2' }),
      make(p3, { t: 'claim', at: 50, g: 0, r: 3, score: 5, host: 'h3' }),
      make(p3, { t: 'fail', at: 55, g: 0, r: 3, error: 'e3' }),
      make(p1, { t: 'claim', at: 60, g: 0, r: 4, score: 5, host: 'h1' }),
    ]
    const h = history(records)
    assert.deepEqual(
      h.map((a) => [a.attempt, a.round, a.outcome, a.ended_at, a.error]),
      [
        [1, 1, 'lapsed', null, 'lease lapsed on h1'],
        [2, 2, 'failed', 45, 'e2'],
        [3, 3, 'failed', 55, 'e3'],
      ],
    )
    const job = derived(records)
    assert.equal(job.status, 'failed')
    assert.equal(job.attempt, 3)
  })

  it('a requeue closes the open attempt and starts a new generation from attempt 1; a forged requeue does not', () => {
    const records = [
      specV,
      make(p1, { t: 'claim', at: 10, g: 0, r: 1, score: 5, host: 'h1' }),
      make(p1, { t: 'start', at: 11, g: 0, r: 1 }),
      make(intruder, { t: 'requeue', at: 15, g: 1, force: true }),
      make(op, { t: 'requeue', at: 20, g: 1, force: true }),
      make(p2, { t: 'claim', at: 30, g: 1, r: 1, score: 5, host: 'h2' }),
      make(p2, { t: 'start', at: 31, g: 1, r: 1 }),
    ]
    const h = history(records)
    assert.deepEqual(
      h.map((a) => [a.generation, a.attempt, a.round, a.outcome, a.ended_at]),
      [
        [0, 1, 1, 'requeued', 20],
        [1, 1, 1, 'running', null],
      ],
    )
    const job = derived(records)
    assert.equal(job.status, 'running')
    assert.equal(job.generation, 1)
  })

  it('an open attempt is cancelled by a cancel, and lapses by this peer lease observations', () => {
    const open = [specV, make(p1, { t: 'claim', at: 10, g: 0, r: 1, score: 5, host: 'h1' })]
    assert.equal(history(open)[0].outcome, 'claimed')
    const cancelled = [...open, make(op, { t: 'cancel', at: 25, g: 0 })]
    assert.deepEqual(
      history(cancelled).map((a) => [a.outcome, a.ended_at]),
      [['cancelled', 25]],
    )
    const stale = { now: 100_000, leaseMs: 30_000, lastSeen: () => 1_000 }
    assert.deepEqual(
      history(open, stale).map((a) => [a.outcome, a.ended_at]),
      [['lapsed', 31_000]],
    )
    assert.equal(derived(open, stale).status, 'pending')
  })

  it('ignores claims from hosts the job or the host policies exclude', () => {
    const records = [
      specV,
      make(p1, { t: 'claim', at: 10, g: 0, r: 1, score: 9, host: 'cpu-box' }),
      make(p2, { t: 'claim', at: 11, g: 0, r: 1, score: 1, host: 'h2' }),
    ]
    const hosts = new Map([['cpu-box', { allow_jobs: [], deny_jobs: ['knn' as const], max_concurrent: 1 }]])
    const h = jobHistory(records, { spec, hosts })
    assert.deepEqual(
      h.map((a) => a.host),
      ['h2'],
    )
    assert.equal(jobHistory([specV], { spec }).length, 0)
  })
})
