import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Automerge from '@automerge/automerge'
import fc from 'fast-check'
import {
  appendRecords,
  cancelRecords,
  claimJob,
  completeJob,
  createJobTable,
  deriveJobs,
  encodeRecord,
  failJob,
  type JobTable,
  lapseJob,
  manifestRecords,
  recordsOf,
  releaseJob,
  requeueRecords,
  startJob,
} from '../../crdt/index.ts'
import { freshView, makeSigners, manifestWithJobs } from '../helpers/job-table.ts'

const ACTIONS = ['claim', 'start', 'complete', 'fail', 'release', 'lapse', 'cancel', 'requeue', 'sync'] as const
const step = fc.record({
  actor: fc.nat(3),
  action: fc.constantFrom(...ACTIONS),
  job: fc.nat(2),
  score: fc.nat(2),
  other: fc.nat(3),
})

describe('job table convergence (property tests)', async () => {
  const signers = await makeSigners(5)
  const [op, ...peers] = signers
  const intruder = peers[3]
  const trust = { operatorKeys: new Set([op.id]) }
  const view = freshView(1_000_000)
  const derived = (doc: JobTable) => JSON.stringify(deriveJobs(doc, view, trust))
  const base = appendRecords(createJobTable(), manifestRecords(op, manifestWithJobs(3, [op.id]), [], 1).records, 1)

  /** Runs the steps on four actors' own documents, each acting on what it derives. */
  function run(steps: readonly (typeof step extends fc.Arbitrary<infer T> ? T : never)[]): JobTable[] {
    const docs = peers.map((_, i) => Automerge.clone(base, { actor: `${i + 1}`.padStart(32, '0') }))
    let t = 10
    for (const s of steps) {
      t++
      const me = peers[s.actor]
      const doc = docs[s.actor]
      const jobs = deriveJobs(doc, view, trust)
      const j = jobs[s.job]
      if (j === undefined) continue
      const mine = j.owner === me.id
      switch (s.action) {
        case 'claim':
          if (j.status === 'pending') docs[s.actor] = claimJob(doc, me, j, { score: s.score, host: `h${s.actor}` }, t)
          break
        case 'start':
          if (mine && j.status === 'claimed') docs[s.actor] = startJob(doc, me, j, t)
          break
        case 'complete':
          if (mine)
            docs[s.actor] = completeJob(
              doc,
              me,
              j,
              { bundle: `b${t}`, valMacroF1: s.score / 3, testMacroF1: null, fitSeconds: 1, host: 'h' },
              t,
            )
          break
        case 'fail':
          if (mine) docs[s.actor] = failJob(doc, me, j, `e${t}`, t)
          break
        case 'release':
          if (mine) docs[s.actor] = releaseJob(doc, me, j, t)
          break
        case 'lapse':
          if (j.owner !== null && !mine) docs[s.actor] = lapseJob(doc, me, j, j.owner, t)
          break
        case 'cancel':
          if (s.actor === 0) docs[s.actor] = appendRecords(doc, cancelRecords(op, j, t), t)
          break
        case 'requeue':
          if (s.actor === 0) docs[s.actor] = appendRecords(doc, requeueRecords(op, j, { force: true }, t), t)
          break
        case 'sync':
          // (Automerge panics when a document is merged into itself.)
          if (s.other !== s.actor) docs[s.actor] = Automerge.merge(doc, docs[s.other])
          break
      }
    }
    return docs
  }

  function mergeAll(docs: readonly JobTable[], order: readonly number[]): JobTable {
    let acc = Automerge.clone(docs[order[0]])
    for (const i of order.slice(1)) acc = Automerge.merge(acc, docs[i])
    return acc
  }

  it('any merge order of the same changes derives the same table, equal to any record order', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 5, maxLength: 60 }),
        fc.shuffledSubarray([0, 1, 2, 3], { minLength: 4, maxLength: 4 }),
        fc.shuffledSubarray([0, 1, 2, 3], { minLength: 4, maxLength: 4 }),
        fc.nat(),
        (steps, orderA, orderB, shuffleSeed) => {
          const docs = run(steps)
          const a = mergeAll(docs, orderA)
          const b = mergeAll(docs, orderB)
          assert.deepEqual(Automerge.getHeads(a).sort(), Automerge.getHeads(b).sort())
          const table = derived(a)
          assert.equal(derived(b), table)
          // The derivation itself is order-independent: the same records in any list order.
          const records = [...recordsOf(a)] as Uint8Array[]
          let x = shuffleSeed | 1
          for (let i = records.length - 1; i > 0; i--) {
            x = (x * 1103515245 + 12345) & 0x7fffffff
            const k = x % (i + 1)
            ;[records[i], records[k]] = [records[k], records[i]]
          }
          assert.equal(derived(appendRecords(createJobTable(), records)), table)
          // Duplicated records change nothing either.
          assert.equal(derived(appendRecords(a, records.slice(0, 5))), table)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('attempts never exceed max_attempts', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 5, maxLength: 80 }), (steps) => {
        const docs = run(steps)
        for (const doc of [...docs, mergeAll(docs, [0, 1, 2, 3])]) {
          for (const j of deriveJobs(doc, view, trust)) {
            assert.ok(j.attempt >= 1 && j.attempt <= j.spec.max_attempts, `attempt ${j.attempt}`)
            assert.ok(j.attemptsUsed <= j.spec.max_attempts, `used ${j.attemptsUsed}`)
            if (j.status === 'failed') assert.equal(j.attemptsUsed, j.spec.max_attempts)
          }
        }
      }),
      { numRuns: 60 },
    )
  })

  it('forged operator commands, specs and tampered records never change the derived table', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 5, maxLength: 40 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        (steps, picks) => {
          const doc = mergeAll(run(steps), [0, 1, 2, 3])
          const table = derived(doc)
          const jobs = deriveJobs(doc, view, trust)
          const records = recordsOf(doc) as Uint8Array[]
          const forged: Uint8Array[] = []
          for (const p of picks) {
            const j = jobs[p % jobs.length]
            forged.push(encodeRecord({ t: 'cancel', j: j.id, at: p, g: j.generation }, intruder))
            forged.push(encodeRecord({ t: 'requeue', j: j.id, at: p, g: j.generation + 1, force: true }, intruder))
            const { id: _id, ...spec } = j.spec
            forged.push(encodeRecord({ t: 'spec', j: j.id, at: p + 1e12, spec: { ...spec, priority: 999 } }, intruder))
            const victim = Uint8Array.from(records[p % records.length])
            victim[1 + (p % 64)] ^= 0x80 // break its signature
            forged.push(victim)
          }
          assert.equal(derived(appendRecords(doc, forged)), table)
        },
      ),
      { numRuns: 40 },
    )
  })
})
