import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DocumentStoreClosedError, MemoryDocumentStore } from '../../node/store/index.ts'
import { testChunk } from '../helpers/document-store-suite.ts'

describe('MemoryDocumentStore', () => {
  it('applies un-awaited appends and compactions before they return (the simulator relies on it)', async () => {
    const store = new MemoryDocumentStore()
    void store.append(testChunk(1, 10))
    void store.append(testChunk(2, 20))
    assert.deepEqual(store.size(), { bytes: 30, entries: 2 })
    void store.compact(testChunk(3, 5))
    assert.deepEqual(store.size(), { bytes: 5, entries: 1 })
    void store.append(testChunk(4, 7))
    const seen = store.load() // taken now, before any await
    void store.append(testChunk(5, 9))
    assert.deepEqual((await seen).chunks, [testChunk(3, 5), testChunk(4, 7)])
  })

  it('copies each chunk once at append and returns the stored arrays on load', async () => {
    const store = new MemoryDocumentStore()
    const chunk = testChunk(1)
    await store.append(chunk)
    const a = await store.load()
    const b = await store.load()
    assert.notEqual(a.chunks[0], chunk)
    assert.equal(a.chunks[0], b.chunks[0])
    assert.notEqual(a.chunks, b.chunks) // the list is a copy: a later append does not change a load's result
    await store.append(testChunk(2))
    assert.equal(a.chunks.length, 1)
  })

  it('loadNow() returns what load() resolves to, synchronously, and refuses a closed handle', async () => {
    const store = new MemoryDocumentStore()
    void store.append(testChunk(1))
    void store.compact(testChunk(2))
    void store.append(testChunk(3))
    assert.deepEqual(store.loadNow(), { chunks: [testChunk(2), testChunk(3)], skipped: 0 })
    assert.deepEqual(store.loadNow(), await store.load())
    const next = store.reopen()
    assert.throws(() => store.loadNow(), DocumentStoreClosedError)
    assert.equal(next.loadNow().chunks.length, 2)
  })

  it('reopen() hands the data to a new handle and closes the old one', async () => {
    const old = new MemoryDocumentStore()
    await old.append(testChunk(1))
    const next = old.reopen()
    await assert.rejects(old.append(testChunk(2)), DocumentStoreClosedError)
    assert.deepEqual((await next.load()).chunks, [testChunk(1)])
    await next.compact(testChunk(9))
    assert.deepEqual((await next.reopen().load()).chunks, [testChunk(9)])
  })
})
