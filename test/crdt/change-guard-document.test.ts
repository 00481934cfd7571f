import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Automerge from '@automerge/automerge'
import {
  appendRecords,
  checkChange,
  createJobTable,
  JOB_TABLE_VERSION,
  type JobTable,
  recordsOf,
} from '../../crdt/index.ts'
import { busyShard } from '../helpers/job-table.ts'

// Automerge's sync protocol may send a whole document as one chunk; the guard checks it by
// its shape (ops = genesis + visible log entries), so each hostile edit must be caught.
describe('change guard: whole documents', () => {
  const base = appendRecords(
    createJobTable('aa'.repeat(16)),
    [1, 2, 3].map((b) => new Uint8Array([b])),
    1000,
  )
  const edit = (f: (d: Record<string, unknown> & { log: unknown[][] }) => void): JobTable =>
    Automerge.change(Automerge.clone(base), (d) => f(d as never))
  const verdict = (doc: unknown) => checkChange(Automerge.save(doc as JobTable))

  it('accepts an honest document, also after many writers appended', () => {
    let doc = base
    for (let i = 0; i < 5; i++)
      doc = Automerge.merge(
        doc,
        appendRecords(Automerge.clone(base, { actor: `b${i}`.repeat(16) }), [new Uint8Array([i])], 2000),
      )
    const v = verdict(doc)
    assert.ok(v.ok)
    // The records a document holds, shard by shard in the log's order (what a peer learns from it).
    assert.deepEqual(
      v.records.map((r) => [...r]),
      recordsOf(doc).map((r) => [...(r as Uint8Array)]),
    )
    assert.equal(v.records.length, 8)
    // A document is not one change: it is never taken for a copy of something held.
    assert.deepEqual(v.hashes, [])
  })

  for (const [name, doc] of [
    ['a delete', edit((d) => busyShard(d.log).splice(0, 1))],
    [
      'a delete then an insert',
      edit((d) => {
        busyShard(d.log).splice(0, 1)
        d.log[5].push(new Uint8Array([7]))
      }),
    ],
    [
      'an overwrite',
      edit((d) => {
        busyShard(d.log)[0] = new Uint8Array([9])
      }),
    ],
    ['a deleted shard', edit((d) => d.log.splice(3, 1))],
    [
      'a shard replaced',
      edit((d) => {
        d.log[3] = []
      }),
    ],
    ['an extra shard', edit((d) => d.log.push([]))],
    ['bytes in the log itself', edit((d) => d.log.push(new Uint8Array([1]) as never))],
    [
      'a put of v',
      edit((d) => {
        d.v = JOB_TABLE_VERSION + 1
      }),
    ],
    [
      'a put of v and back',
      Automerge.change(
        edit((d) => {
          d.v = JOB_TABLE_VERSION + 1
        }),
        (d) => {
          ;(d as { v: number }).v = JOB_TABLE_VERSION
        },
      ),
    ],
    [
      'a new root key',
      edit((d) => {
        d.z = 1
      }),
    ],
    [
      'a string in the log',
      edit((d) => {
        d.log[0].push('text')
      }),
    ],
    [
      'a map in the log',
      edit((d) => {
        d.log[0].push({ a: new Uint8Array([1]) })
      }),
    ],
    [
      'another log',
      Automerge.change(Automerge.init<Record<string, unknown>>(), (d) => {
        d.v = JOB_TABLE_VERSION
        d.log = [[new Uint8Array([1])]]
      }),
    ],
  ] as const)
    it(`refuses ${name}`, () => {
      const v = verdict(doc)
      assert.equal(v.ok, false, JSON.stringify(v))
    })

  it('refuses a truncated document', () => {
    const bytes = Automerge.save(base)
    assert.equal(checkChange(bytes.subarray(0, bytes.length - 3)).ok, false)
  })
})
