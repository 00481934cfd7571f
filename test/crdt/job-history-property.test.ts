import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodeRecord,
  deriveRecords,
  encodeRecord,
  jobHistory,
  type Signer,
  type UnsignedRecord,
  type VerifiedRecord,
} from '../../crdt/index.ts'
import { parseManifest } from '../../manifests/index.ts'
import { freshView, makeSigners } from '../helpers/job-table.ts'

const spec = parseManifest(
  '[fleet]\nname = "t"\ndataset = "d"\n[[jobs]]\nmodel = "knn"\nmode = "realistic"\nmax_attempts = 2\n',
  'history.toml',
).jobs[0]
const { id: j, ...body } = spec

/** One step a peer (0-2) or the operator (3) may write in generation g, round r. */
const step = fc.record({
  who: fc.integer({ min: 0, max: 3 }),
  t: fc.constantFrom('claim', 'claim', 'start', 'start', 'complete', 'fail', 'release', 'lapse', 'cancel', 'requeue'),
  g: fc.integer({ min: 0, max: 1 }),
  r: fc.integer({ min: 1, max: 4 }),
  score: fc.integer({ min: 0, max: 2 }),
  at: fc.integer({ min: 10, max: 1000 }),
})

type Step = typeof step extends fc.Arbitrary<infer T> ? T : never

describe('jobHistory agrees with deriveJobs', async () => {
  const [op, ...peers] = await makeSigners(4)
  const trust = { operatorKeys: new Set([op.id]) }
  const signed = new Map<string, { bytes: Uint8Array; v: VerifiedRecord }>()
  const sign = (s: Signer, r: UnsignedRecord) => {
    const k = `${s.id}|${JSON.stringify(r)}`
    let hit = signed.get(k)
    if (hit === undefined) {
      const bytes = encodeRecord(r, s)
      hit = { bytes, v: decodeRecord(bytes) as VerifiedRecord }
      signed.set(k, hit)
    }
    return hit
  }
  const specRec = sign(op, { t: 'spec', j, at: 1, spec: body } as UnsignedRecord)

  function build(steps: Step[]) {
    const out = [specRec]
    for (const s of steps) {
      const peer = peers[s.who % 3]
      const base = { j, at: s.at, g: s.g, r: s.r }
      let r: unknown
      if (s.t === 'claim') r = { ...base, t: 'claim', score: s.score, host: `h${s.who % 3}` }
      else if (s.t === 'complete')
        r = { ...base, t: 'complete', bundle: 'b', val: 0.5, test: 0.4, fit_s: 1, host: `h${s.who % 3}` }
      else if (s.t === 'fail') r = { ...base, t: 'fail', error: 'e' }
      else if (s.t === 'lapse') r = { ...base, t: 'lapse', owner: peers[(s.who + 1) % 3].id }
      else if (s.t === 'cancel') r = { j, at: s.at, t: 'cancel', g: s.g }
      else if (s.t === 'requeue') r = { j, at: s.at, t: 'requeue', g: s.g + 1, force: true }
      else r = { ...base, t: s.t }
      const signer = s.t === 'cancel' || s.t === 'requeue' ? (s.who === 3 ? op : peer) : peer
      out.push(sign(signer, r as UnsignedRecord))
    }
    return out
  }

  it('on the current generation: status, attempt and owner match; order does not matter', () => {
    const seen = new Map<string, number>()
    fc.assert(
      fc.property(fc.array(step, { maxLength: 14 }), fc.integer(), (steps, seed) => {
        const recs = build(steps)
        const job = deriveRecords(
          recs.map((x) => x.bytes),
          freshView(10_000),
          trust,
        )[0]
        const history = jobHistory(
          recs.map((x) => x.v),
          { spec, operatorKeys: trust.operatorKeys },
        )
        const shuffled = [...recs].sort(
          (a, b) => ((a.v.key.charCodeAt(5) ^ seed) & 7) - ((b.v.key.charCodeAt(5) ^ seed) & 7),
        )
        assert.deepEqual(
          jobHistory(
            shuffled.map((x) => x.v),
            { spec, operatorKeys: trust.operatorKeys },
          ),
          history,
        )
        const current = history.filter((a) => a.generation === job.generation)
        const used = current.filter((a) => a.outcome === 'failed' || a.outcome === 'lapsed').length
        const open = current.filter((a) => a.outcome === 'claimed' || a.outcome === 'running')
        const done = current.find((a) => a.outcome === 'completed')
        assert.ok(current.length === 0 || current.every((a, i) => i === 0 || a.round >= current[i - 1].round))
        switch (job.status) {
          case 'completed':
            assert.ok(done !== undefined)
            assert.equal(done.attempt, job.attempt)
            assert.equal(done.owner, job.owner)
            break
          case 'claimed':
          case 'running':
            assert.equal(open.length, 1)
            assert.equal(open[0].outcome, job.status)
            assert.equal(open[0].attempt, job.attempt)
            assert.equal(open[0].owner, job.owner)
            assert.equal(open[0].round, job.round)
            break
          case 'failed':
            assert.equal(used, spec.max_attempts)
            assert.equal(open.length, 0)
            break
          case 'pending':
            assert.equal(open.length, 0)
            assert.equal(used + 1, job.attempt)
            break
          case 'cancelled':
            assert.equal(open.length, 0)
            break
        }
        // A cancel outranks a result (the attempt still shows how its run ended); nothing else does.
        if (job.status !== 'completed' && job.status !== 'cancelled') assert.equal(done, undefined)
        seen.set(`${job.status}/${history.length > 0}`, (seen.get(`${job.status}/${history.length > 0}`) ?? 0) + 1)
      }),
      { numRuns: 400, seed: 490 },
    )
    // Every status is reached, so the property is not vacuous.
    for (const status of ['pending', 'claimed', 'running', 'completed', 'failed', 'cancelled']) {
      assert.ok(
        [...seen.keys()].some((k) => k.startsWith(`${status}/true`)),
        `${status}: ${JSON.stringify([...seen])}`,
      )
    }
  })
})
