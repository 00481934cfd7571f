import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Automerge from '@automerge/automerge'
import fc from 'fast-check'
import {
  appendRecords,
  checkChange,
  claimJob,
  completeJob,
  createJobTable,
  type DerivedJob,
  DerivedTable,
  decodeRecord,
  deriveJobs,
  deriveRecords,
  encodeRecord,
  failJob,
  type JobTable,
  manifestRecords,
  recordsOf,
  type Signer,
  startJob,
  type TrustConfig,
} from '../../crdt/index.ts'
import { jobId } from '../../manifests/index.ts'
import { freshView, makeSigners, manifestWithJobs } from '../helpers/job-table.ts'

/**
 * Fleet members are not trusted: any member signs records holding any values, and a
 * hostile operator key writes specs of its own jobs holding any values. None of that may
 * throw, nor change the state of another job.
 */

const PROTO_NAMES = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'prototype',
  'isPrototypeOf',
  '__defineGetter__',
  'length',
] as const

/** Signs any payload as `signer` (the record format does not care what the values are). */
const signAny = (payload: Record<string, unknown>, signer: Signer) => encodeRecord(payload as never, signer)

const nested = (depth: number): unknown => {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { a: v }
  return v
}

/** Any JSON value, plus the values that have broken parsers and lookups before. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(...PROTO_NAMES),
  fc.constantFrom(1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, -0, 2 ** 31, 5e-324),
  fc.string({ minLength: 300, maxLength: 3000 }),
  fc.integer({ min: 2, max: 400 }).map(nested),
  fc.constant(JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": 1}}')),
)

/** A plausible value half of the time (so records pass the schema), anything otherwise. */
const field = <T>(plausible: fc.Arbitrary<T>) => fc.oneof({ weight: 20, arbitrary: plausible }, anyValue)

const hostName = fc.oneof(fc.constantFrom(...PROTO_NAMES), fc.constantFrom('h1', 'gpu-box', ''), fc.string())
const modelName = fc.oneof(
  fc.constantFrom(...PROTO_NAMES),
  fc.constantFrom('knn', 'gbt', 'mlp', 'future-model'),
  fc.string({ maxLength: 80 }),
)
const hyper = fc.oneof(
  fc.constant({}),
  fc.constant(JSON.parse('{"__proto__": {"k": 1}, "constructor": 2, "k": 3}')),
  fc.dictionary(fc.oneof(fc.constantFrom(...PROTO_NAMES), fc.string()), fc.jsonValue({ maxDepth: 2 })),
  fc.integer({ min: 5, max: 40 }).map((d) => ({ deep: nested(d) })),
)

/** A hostile operator's spec body: a job of its own, with any values. */
const specBody = fc.record({
  model: field(modelName),
  mode: field(fc.constantFrom('realistic', 'oracle', 'constructor')),
  hyper: field(hyper),
  split: field(fc.constant({})),
  train_hosts: field(fc.constant([] as string[])),
  seed: field(fc.nat()),
  priority: field(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(1e308, -1e308))),
  require_cuda: field(fc.boolean()),
  prefer_cuda: field(fc.boolean()),
  min_vram_gib: field(fc.nat()),
  min_ram_gib: field(fc.nat()),
  allowed_hosts: field(
    fc.oneof(
      { weight: 3, arbitrary: fc.constant([] as string[]) },
      fc.array(fc.constantFrom('constructor', 'h1', 'toString'), { maxLength: 2 }),
    ),
  ),
  max_attempts: field(fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constant(Number.MAX_SAFE_INTEGER))),
})

/** The fields of each record type (a record with others fails the schema, which is tested too: `extra`). */
const FIELDS = {
  claim: ['g', 'r', 'score', 'host'],
  start: ['g', 'r'],
  complete: ['g', 'r', 'bundle', 'val', 'test', 'fit_s', 'host'],
  fail: ['g', 'r', 'error'],
  release: ['g', 'r'],
  lapse: ['g', 'r', 'owner'],
  cancel: ['g'],
  requeue: ['g', 'force'],
  spec: ['spec'],
  bogus: ['g', 'r', 'host', 'spec'],
} as const
const TYPES = Object.keys(FIELDS) as (keyof typeof FIELDS)[]

/** A member's record about some job, with plausible or hostile values in every field. */
const memberRecord = fc.record({
  t: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('claim', 'start', 'complete') }, fc.constantFrom(...TYPES)),
  at: field(fc.integer({ min: 0, max: 2_000_000 })),
  g: field(fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.nat(2))),
  r: field(fc.integer({ min: 1, max: 4 })),
  score: field(fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom(1e308, -1e308))),
  host: field(hostName),
  bundle: field(fc.constantFrom('bafy', 'constructor')),
  val: field(fc.oneof(fc.constant(null), fc.double({ noNaN: true, noDefaultInfinity: true }))),
  test: field(fc.constant(null)),
  fit_s: field(fc.nat()),
  error: field(fc.string()),
  owner: field(fc.constantFrom('constructor', '__proto__', '12D3KooWxyz')),
  force: field(fc.boolean()),
  spec: field(specBody),
  extra: fc.option(anyValue, { nil: undefined, freq: 10 }),
})

/** Everything deriveJobs says of a job, except `leaseExpiresAt`, which DerivedTable refreshes lazily. */
function comparable(j: DerivedJob | undefined) {
  if (j === undefined) return undefined
  const { leaseExpiresAt: _lease, ...rest } = j
  return rest
}

describe('hostile but well-signed records', async () => {
  const [op, badOp, p1, p2, m1, m2] = await makeSigners(6)
  const members = [p1, p2, m1, m2]
  const hosts = new Map([
    ['h1', { allow_jobs: [], deny_jobs: ['gbt' as const], max_concurrent: 1 }],
    ['gpu-box', { allow_jobs: ['knn' as const], deny_jobs: [], max_concurrent: 2 }],
  ])
  const trust: TrustConfig = { operatorKeys: new Set([op.id, badOp.id]), hosts }
  const view = freshView(1_000_000)

  // The honest table: four jobs, one completed, one running, one failed once, one pending.
  let honestDoc: JobTable = appendRecords(
    createJobTable(),
    manifestRecords(op, manifestWithJobs(4, [op.id]), [], 1).records,
    1,
  )
  const [a, b, c] = deriveJobs(honestDoc, view, trust)
  honestDoc = claimJob(honestDoc, p1, a, { score: 3, host: 'h1' }, 10)
  honestDoc = startJob(honestDoc, p1, { ...a, round: 1 }, 20)
  const result = { bundle: 'bafyx', valMacroF1: 0.5, testMacroF1: 0.4, fitSeconds: 1, host: 'h1' }
  honestDoc = completeJob(honestDoc, p1, { ...a, round: 1 }, result, 30)
  honestDoc = claimJob(honestDoc, p2, b, { score: 1, host: 'gpu-box' }, 40)
  honestDoc = startJob(honestDoc, p2, { ...b, round: 1 }, 50)
  honestDoc = claimJob(honestDoc, p1, c, { score: 1, host: 'h1' }, 60)
  honestDoc = failJob(honestDoc, p1, { ...c, round: 1 }, 'boom', 70)
  const honestRecords = recordsOf(honestDoc) as Uint8Array[]
  const honest = deriveJobs(honestDoc, view, trust)
  const honestIds = honest.map((j) => j.id)
  assert.deepEqual(honest.map((j) => j.status).sort(), ['completed', 'pending', 'pending', 'running'])

  it('a claim naming a host like an Object property neither throws nor counts as a policy', () => {
    for (const host of PROTO_NAMES) {
      const pending = honest.find((j) => j.status === 'pending' && j.attemptsUsed === 0) as DerivedJob
      const doc = claimJob(Automerge.clone(honestDoc), m1, pending, { score: 1, host }, 100)
      const jobs = deriveJobs(doc, view, trust)
      const job = jobs.find((j) => j.id === pending.id)
      assert.equal(job?.status, 'claimed', host)
      assert.equal(job?.host, host)
      const table = new DerivedTable({ trust })
      table.add(recordsOf(doc))
      table.refresh(view)
      assert.equal(table.get(pending.id)?.status, 'claimed', host)
    }
  })

  it('a spec with a model or hypers this version does not know is still a job (any version derives it)', () => {
    const base = manifestWithJobs(1, [op.id]).jobs[0]
    const specs = [
      { ...base, model: 'future-model', hyper: { depth: 3 } },
      { ...base, model: '__proto__' },
      { ...base, model: 'constructor' },
      { ...base, hyper: JSON.parse('{"__proto__": {"k": 2}, "k": 12, "new_knob": true}') },
    ].map((s) => ({ ...s, id: jobId(s) }))
    const doc = appendRecords(Automerge.clone(honestDoc), manifestRecords(op, { jobs: specs }, [], 200).records, 200)
    const jobs = deriveJobs(doc, view, trust)
    for (const s of specs) {
      const job = jobs.find((j) => j.id === s.id)
      assert.equal(job?.status, 'pending', s.model)
      assert.equal(job?.spec.model, s.model)
      assert.deepEqual(Object.keys(job?.spec.hyper ?? {}), Object.keys(s.hyper))
    }
    for (const id of honestIds)
      assert.deepEqual(
        jobs.find((j) => j.id === id),
        honest.find((j) => j.id === id),
      )
  })

  it('a spec whose hypers nest deeper than the bound is refused, the rest stands', () => {
    const base = manifestWithJobs(1, [op.id]).jobs[0]
    const deep = { ...base, seed: 77, hyper: { x: nested(9) } }
    const ok = { ...base, seed: 78, hyper: { x: nested(7) } }
    const specs = [deep, ok].map((s) => ({ ...s, id: jobId(s) }))
    const doc = appendRecords(Automerge.clone(honestDoc), manifestRecords(op, { jobs: specs }, [], 200).records, 200)
    const ids = new Set(deriveJobs(doc, view, trust).map((j) => j.id))
    assert.equal(ids.has(specs[0].id), false)
    assert.equal(ids.has(specs[1].id), true)
  })

  it('never throw and never change an honest job (property)', () => {
    const seen = { hostileJobs: 0, hostileActive: 0, hostileDone: 0 }
    const hostileSpec = specBody.map((spec) => {
      let j: string
      try {
        j = jobId(spec as never)
      } catch {
        j = 'f'.repeat(64)
      }
      return { t: 'spec', j, at: 5, spec }
    })
    const scenario = fc.record({
      specs: fc.array(hostileSpec, { minLength: 1, maxLength: 4 }),
      records: fc.array(
        fc.record({
          rec: memberRecord,
          target: fc.nat(),
          signer: fc.nat(members.length - 1),
          honestOperatorRecord: fc.boolean(),
        }),
        { minLength: 2, maxLength: 16 },
      ),
      // Well-formed plays on the hostile jobs, so that their claims, starts and results count.
      plays: fc.array(
        fc.record({
          t: fc.constantFrom('claim', 'claim', 'start', 'complete', 'fail', 'release', 'lapse', 'cancel'),
          target: fc.nat(),
          r: fc.integer({ min: 1, max: 3 }),
          signer: fc.nat(members.length - 1),
          host: hostName.filter((h) => h.length <= 255),
        }),
        { maxLength: 10 },
      ),
      order: fc.array(fc.nat(), { maxLength: 60 }),
      chunks: fc.integer({ min: 1, max: 4 }),
    })
    fc.assert(
      fc.property(scenario, ({ specs, records, plays, order, chunks }) => {
        const bytes: Uint8Array[] = specs.map((s) => signAny(s, badOp))
        // Aim members' records mostly at hostile jobs whose spec record is well formed.
        const wellFormed = specs.filter((_, i) => decodeRecord(bytes[i]) !== null).map((s) => s.j)
        const targets = [...wellFormed, ...wellFormed, ...specs.map((s) => s.j)]
        for (const { rec, target, signer, honestOperatorRecord } of records) {
          const body: Record<string, unknown> = { t: rec.t, at: rec.at }
          for (const k of FIELDS[rec.t]) body[k] = rec[k]
          if (rec.extra !== undefined) body.extra = rec.extra
          // Members' records go to the hostile jobs; operator-only records by members may name honest jobs too.
          const operatorType = rec.t === 'spec' || rec.t === 'cancel' || rec.t === 'requeue'
          body.j =
            operatorType && honestOperatorRecord
              ? honestIds[target % honestIds.length]
              : targets.length > 0
                ? targets[target % targets.length]
                : 'e'.repeat(64)
          bytes.push(signAny(body, members[signer]))
        }
        for (const p of plays) {
          if (wellFormed.length === 0) break
          const j = wellFormed[p.target % wellFormed.length]
          const base = { j, at: 100, g: 0, r: p.r }
          const extra =
            p.t === 'claim'
              ? { score: p.r, host: p.host }
              : p.t === 'complete'
                ? { bundle: 'bafy', val: null, test: null, fit_s: 1, host: p.host }
                : p.t === 'fail'
                  ? { error: p.host }
                  : p.t === 'lapse'
                    ? { owner: members[(p.signer + 1) % members.length].id }
                    : {}
          const record = p.t === 'cancel' ? { t: 'cancel', j, at: 100, g: 0 } : { t: p.t, ...base, ...extra }
          bytes.push(signAny(record, p.t === 'cancel' ? badOp : members[p.signer]))
        }
        // Mixed in at any positions.
        const mixed = [...honestRecords]
        bytes.forEach((r, i) => {
          const at = (order[i] ?? i) % (mixed.length + 1)
          mixed.splice(at, 0, r)
        })
        const jobs = deriveRecords(mixed, view, trust)
        const byId = new Map(jobs.map((j) => [j.id as string, j]))
        const hostile = jobs.filter((j) => !honestIds.includes(j.id))
        seen.hostileJobs += hostile.length
        seen.hostileActive += hostile.filter((j) => j.status === 'claimed' || j.status === 'running').length
        seen.hostileDone += hostile.filter((j) => j.status === 'completed' || j.status === 'cancelled').length
        for (const h of honest) assert.deepEqual(byId.get(h.id), h)

        const table = new DerivedTable({ trust })
        const size = Math.ceil(mixed.length / chunks)
        for (let i = 0; i < mixed.length; i += size) {
          table.add(mixed.slice(i, i + size))
          table.refresh(view)
        }
        for (const h of honest) assert.deepEqual(comparable(table.get(h.id)), comparable(h))
        assert.equal(table.jobCount, jobs.length)
        // Whatever the hostile specs hold, the document they travel in only ever has inserts.
        const doc = appendRecords(Automerge.clone(honestDoc), bytes, 500)
        for (const ch of Automerge.getChanges(honestDoc, doc)) assert.equal(checkChange(ch).ok, true)
      }),
      { numRuns: 80 },
    )
    console.log(`# hostile scenarios: ${JSON.stringify(seen)}`)
    // The scenarios reach derivation: hostile jobs exist, get claimed and finish.
    assert.ok(seen.hostileJobs > 20, `${seen.hostileJobs} hostile jobs derived`)
    assert.ok(seen.hostileActive > 3, `${seen.hostileActive} hostile jobs claimed or running`)
    assert.ok(seen.hostileDone > 0, `${seen.hostileDone} hostile jobs completed or cancelled`)
  })

  it('a record nobody could have written in any version is ignored (junk bytes and payloads)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), anyValue, (junk, value) => {
        const forged = signAny({ t: 'claim', j: honestIds[0], at: 1, g: 0, r: 9, score: value, host: value }, m2)
        const jobs = deriveRecords([...honestRecords, ...junk, forged, value], view, trust)
        const job = jobs.find((j) => j.id === honestIds[0])
        assert.ok(job !== undefined)
      }),
      { numRuns: 40 },
    )
  })
})
