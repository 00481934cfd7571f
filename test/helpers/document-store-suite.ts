import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Automerge from '@automerge/automerge'
import { appendRecords, createJobTable, type JobTable, recordsOf } from '../../crdt/index.ts'
import { type DocumentStore, DocumentStoreClosedError } from '../../node/store/index.ts'

/** One store's persisted data under test, as a directory is to a file store. */
export interface DocumentStoreFixture {
  /** A new handle over the fixture's data, as a restarted process opens it (close the previous one first). */
  open(): DocumentStore
  /** Removes whatever the fixture made (temp dirs...). */
  cleanup(): Promise<void>
}

/** Deterministic chunk `i` of `len` bytes. */
export function testChunk(i: number, len = 16 + (i % 7) * 13): Uint8Array {
  const out = new Uint8Array(len)
  for (let j = 0; j < len; j++) out[j] = (i * 31 + j * 7) & 0xff
  if (len >= 4) new DataView(out.buffer).setUint32(0, i)
  return out
}

/** Sum of lengths. */
function bytesOf(chunks: readonly Uint8Array[]): number {
  return chunks.reduce((n, c) => n + c.length, 0)
}

/** Compares as plain byte arrays (a store may return views or Buffers). */
function plain(chunks: readonly Uint8Array[]): Uint8Array[] {
  return chunks.map((c) => Uint8Array.from(c))
}

/**
 * The contract every {@link DocumentStore} passes: order, compaction, reopen, size accounting,
 * refusal after close, and a real Automerge job table round trip.
 * @param setup - makes a fresh, empty fixture per test.
 */
export function runDocumentStoreTests(name: string, setup: () => DocumentStoreFixture | Promise<DocumentStoreFixture>) {
  /** Runs `fn` with a fresh fixture; closes every handle it opened and cleans up, also on failure. */
  async function withFixture(fn: (open: () => DocumentStore) => Promise<void>): Promise<void> {
    const fixture = await setup()
    const opened: DocumentStore[] = []
    try {
      await fn(() => {
        const store = fixture.open()
        opened.push(store)
        return store
      })
    } finally {
      for (const s of opened) await s.close().catch(() => {})
      await fixture.cleanup()
    }
  }

  describe(`DocumentStore contract: ${name}`, () => {
    it('loads an empty store as no chunks, nothing skipped, size zero', () =>
      withFixture(async (open) => {
        const store = open()
        assert.deepEqual(await store.load(), { chunks: [], skipped: 0 })
        assert.deepEqual(store.size(), { bytes: 0, entries: 0 })
      }))

    it('round-trips chunks in append order, copied at append time', () =>
      withFixture(async (open) => {
        const store = open()
        const chunks = [0, 1, 2, 3, 4].map((i) => testChunk(i))
        chunks.push(new Uint8Array(0), testChunk(5, 70_000))
        for (const c of chunks) await store.append(c)
        const expected = plain(chunks)
        chunks[0].fill(0xee) // the caller reusing its buffer must not change what was stored
        const loaded = await store.load()
        assert.equal(loaded.skipped, 0)
        assert.deepEqual(plain(loaded.chunks), expected)
      }))

    it('keeps call order for concurrent un-awaited appends', () =>
      withFixture(async (open) => {
        const store = open()
        const chunks = Array.from({ length: 300 }, (_, i) => testChunk(i))
        await Promise.all(chunks.map((c) => store.append(c)))
        assert.deepEqual(plain((await store.load()).chunks), plain(chunks))
        assert.deepEqual(store.size(), { bytes: bytesOf(chunks), entries: chunks.length })
      }))

    it('compact then append then load gives the snapshot then the later chunks', () =>
      withFixture(async (open) => {
        const store = open()
        await store.append(testChunk(1))
        await store.append(testChunk(2))
        const snapshot = testChunk(99, 500)
        await store.compact(snapshot)
        assert.deepEqual(store.size(), { bytes: 500, entries: 1 })
        await store.append(testChunk(3))
        assert.deepEqual(plain((await store.load()).chunks), plain([snapshot, testChunk(3)]))
        assert.deepEqual(store.size(), { bytes: 500 + testChunk(3).length, entries: 2 })
        await store.compact(testChunk(100, 10))
        assert.deepEqual(plain((await store.load()).chunks), [testChunk(100, 10)])
      }))

    it('serialises un-awaited appends, compactions and loads in call order', () =>
      withFixture(async (open) => {
        const store = open()
        const calls = [
          store.append(testChunk(1)),
          store.append(testChunk(2)),
          store.compact(testChunk(50, 40)),
          store.append(testChunk(3)),
        ]
        const seen = store.load()
        calls.push(store.append(testChunk(4)), store.compact(testChunk(60, 30)), store.append(testChunk(5)))
        await Promise.all(calls)
        assert.deepEqual(plain((await seen).chunks), plain([testChunk(50, 40), testChunk(3)]))
        assert.deepEqual(plain((await store.load()).chunks), plain([testChunk(60, 30), testChunk(5)]))
      }))

    it('reopens after close with everything, and keeps appending', () =>
      withFixture(async (open) => {
        const first = open()
        await first.append(testChunk(1))
        await first.compact(testChunk(10, 100))
        await first.append(testChunk(2))
        await first.close()
        await first.close() // idempotent
        const second = open()
        assert.deepEqual(plain((await second.load()).chunks), plain([testChunk(10, 100), testChunk(2)]))
        assert.deepEqual(second.size(), { bytes: 100 + testChunk(2).length, entries: 2 })
        await second.append(testChunk(3))
        await second.close()
        const third = open()
        const loaded = await third.load()
        assert.deepEqual(plain(loaded.chunks), plain([testChunk(10, 100), testChunk(2), testChunk(3)]))
        assert.equal(loaded.skipped, 0)
      }))

    it('close waits for pending writes', () =>
      withFixture(async (open) => {
        const first = open()
        const chunks = Array.from({ length: 50 }, (_, i) => testChunk(i))
        const writes = chunks.map((c) => first.append(c))
        await first.close()
        await Promise.all(writes)
        const second = open()
        assert.deepEqual(plain((await second.load()).chunks), plain(chunks))
      }))

    it('refuses calls after close', () =>
      withFixture(async (open) => {
        const store = open()
        await store.append(testChunk(1))
        await store.close()
        await assert.rejects(store.append(testChunk(2)), DocumentStoreClosedError)
        await assert.rejects(store.compact(testChunk(3)), DocumentStoreClosedError)
        await assert.rejects(store.load(), DocumentStoreClosedError)
        assert.deepEqual(plain((await open().load()).chunks), [testChunk(1)])
      }))

    it('accounts size() in payload bytes and chunks, a snapshot being one', () =>
      withFixture(async (open) => {
        const store = open()
        const chunks = [testChunk(1, 10), testChunk(2, 0), testChunk(3, 1000)]
        for (const c of chunks) await store.append(c)
        assert.deepEqual(store.size(), { bytes: 1010, entries: 3 })
        await store.compact(testChunk(4, 77))
        await store.append(testChunk(5, 3))
        assert.deepEqual(store.size(), { bytes: 80, entries: 2 })
        await store.close()
        const again = open()
        await again.load()
        assert.deepEqual(again.size(), { bytes: 80, entries: 2 })
      }))

    it('rejects a call whose signal is already aborted and stores nothing', () =>
      withFixture(async (open) => {
        const store = open()
        const signal = AbortSignal.abort(new Error('stop'))
        await assert.rejects(store.append(testChunk(1), { signal }), /stop/)
        await assert.rejects(store.compact(testChunk(2), { signal }), /stop/)
        await assert.rejects(store.load({ signal }), /stop/)
        await store.append(testChunk(3))
        assert.deepEqual(plain((await store.load()).chunks), [testChunk(3)])
      }))

    it('stores a real Automerge job table: changes, saveIncremental and save chunks load to the same doc', () =>
      withFixture(async (open) => {
        const store = open()
        let doc: JobTable = createJobTable('aa'.repeat(16))
        await store.append(Automerge.saveIncremental(doc))
        for (let i = 0; i < 30; i++) {
          doc = appendRecords(doc, [testChunk(i, 64), testChunk(1000 + i, 96)], 1_000 * i)
          if (i % 4 === 0) await store.append(Automerge.saveIncremental(doc))
          else await store.append(Automerge.getLastLocalChange(doc)!)
          if (i === 14) await store.compact(Automerge.save(doc))
        }
        await store.close()
        const { chunks, skipped } = await open().load()
        assert.equal(skipped, 0)
        let loaded = createJobTable('bb'.repeat(16))
        for (const c of chunks) loaded = Automerge.loadIncremental(loaded, c)
        assert.deepEqual(Automerge.getHeads(loaded).toSorted(), Automerge.getHeads(doc).toSorted())
        assert.equal(recordsOf(loaded).length, 60)
        assert.deepEqual(plain(recordsOf(loaded) as Uint8Array[]), plain(recordsOf(doc) as Uint8Array[]))
      }))
  })
}
