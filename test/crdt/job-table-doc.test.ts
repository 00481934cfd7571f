import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Automerge from '@automerge/automerge'
import {
  appendRecords,
  createJobTable,
  GENESIS_HASH,
  JOB_TABLE_VERSION,
  type JobTable,
  LOG_SHARD_IDS,
  LOG_SHARDS,
  logShardFor,
  OPS_PER_SHARD,
  recordsOf,
} from '../../crdt/index.ts'
import { DEFAULT_PEER_INIT, Replica, type ReplicaHost } from '../../node/index.ts'

const actor = (i: number) => i.toString(16).padStart(32, '0')
const rec = (i: number) => Uint8Array.of(1, 2, i & 0xff, i >> 8)
/** Which shard holds each record of `doc`, by the record's bytes. */
function placement(doc: JobTable): Map<string, number> {
  const out = new Map<string, number>()
  doc.log.forEach((shard, i) => {
    for (const r of shard) out.set(Buffer.from(r).toString('hex'), i)
  })
  return out
}

describe('the job table document', () => {
  it('starts from one genesis on every peer: the version and the empty shards, with fixed object ids', () => {
    const a = createJobTable(actor(1))
    const b = createJobTable(actor(2))
    assert.deepEqual(Automerge.getHeads(a), [GENESIS_HASH])
    assert.deepEqual(Automerge.getHeads(b), [GENESIS_HASH])
    assert.equal(a.v, JOB_TABLE_VERSION)
    assert.equal(a.log.length, LOG_SHARDS)
    assert.deepEqual(
      a.log.map((s) => Automerge.getObjectId(s)),
      [...LOG_SHARD_IDS],
    )
    assert.ok(a.log.every((s) => s.length === 0))
    assert.notEqual(Automerge.getActorId(a), Automerge.getActorId(createJobTable()), 'a fresh actor per table')
  })

  it('picks the shard from the op count: the same for writers in step, the next one every OPS_PER_SHARD ops, round the shards', () => {
    assert.equal(logShardFor(0), 0)
    assert.equal(logShardFor(OPS_PER_SHARD - 1), 0)
    assert.equal(logShardFor(OPS_PER_SHARD), 1)
    assert.equal(logShardFor(OPS_PER_SHARD * LOG_SHARDS), 0)
    assert.equal(logShardFor(OPS_PER_SHARD * (LOG_SHARDS + 3) + 1), 3)
    for (const bad of [-5, Number.NaN, 1.5, Number.POSITIVE_INFINITY]) assert.equal(logShardFor(bad), 0, String(bad))
    // Two writers that hold the same document write to the same shard.
    const base = appendRecords(createJobTable(actor(1)), [rec(0)], 1000)
    const x = appendRecords(Automerge.clone(base, { actor: actor(2) }), [rec(1)], 2000)
    const y = appendRecords(Automerge.clone(base, { actor: actor(3) }), [rec(2)], 2000)
    const merged = Automerge.merge(x, y)
    const where = placement(merged)
    assert.equal(where.get(Buffer.from(rec(1)).toString('hex')), where.get(Buffer.from(rec(2)).toString('hex')))
    // A writer moves on as the document grows.
    let doc = merged
    const used = new Set<number>()
    for (let i = 0; i < 3 * OPS_PER_SHARD; i++) {
      const shard = logShardFor(Automerge.stats(doc).numOps)
      doc = appendRecords(doc, [rec(10 + i)], 3000 + i)
      assert.equal(placement(doc).get(Buffer.from(rec(10 + i)).toString('hex')), shard)
      used.add(shard)
    }
    // 3 shards' worth of ops, from wherever the document's op count stood.
    assert.ok(used.size === 3 || used.size === 4, `${used.size} shards`)
    assert.equal(recordsOf(doc).length, 3 + 3 * OPS_PER_SHARD)
  })

  it('a replica writes where appendRecords writes (the same changes, made on the backend)', () => {
    const host: ReplicaHost = { send() {}, broadcast() {}, persist() {}, learn() {}, misbehaved() {} }
    const r = new Replica(host, DEFAULT_PEER_INIT, actor(7))
    const records = Array.from({ length: 2 * OPS_PER_SHARD + 5 }, (_, i) => rec(100 + i))
    let doc = createJobTable(actor(8))
    for (const [i, x] of records.entries()) {
      r.write([x], 1000 + i)
      doc = appendRecords(doc, [x], 1000 + i)
    }
    assert.deepEqual(placement(r.doc), placement(doc))
    assert.equal(recordsOf(r.doc).length, records.length)
  })

  it('reads the records of every shard, tolerating a document whose shape someone broke', () => {
    const doc = appendRecords(createJobTable(actor(1)), [rec(1), rec(2)], 1000)
    assert.deepEqual(recordsOf(doc), [rec(1), rec(2)])
    assert.deepEqual(recordsOf({ v: 2 } as never), [])
    assert.deepEqual(recordsOf({ v: 2, log: 'x' } as never), [])
    assert.deepEqual(recordsOf({ v: 2, log: [5, [rec(3)], null] } as never), [rec(3)])
  })
})
