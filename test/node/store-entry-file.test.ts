import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { decodeEntry, encodeEntry, entryFileName, parseEntryFileName } from '../../node/store/index.ts'

const chunksArb = fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 6 })

describe('store entry files', () => {
  it('decodes what it encodes, and names sort in sequence order', () => {
    fc.assert(
      fc.property(chunksArb, fc.integer({ min: 1, max: 2 ** 40 }), (chunks, seq) => {
        const decoded = decodeEntry(encodeEntry('chunks', seq, chunks), 'chunks', seq)
        assert.deepEqual(
          decoded?.map((c) => Uint8Array.from(c)),
          chunks,
        )
        assert.deepEqual(parseEntryFileName(entryFileName('snapshot', seq)), { kind: 'snapshot', seq })
      }),
    )
    assert.ok(entryFileName('chunks', 9) < entryFileName('chunks', 10))
    assert.equal(parseEntryFileName('0000000000000001.chunks.corrupt'), undefined)
    assert.equal(parseEntryFileName('LOCK'), undefined)
  })

  it('rejects every truncation, every flipped byte, and another kind or sequence number', () => {
    fc.assert(
      fc.property(chunksArb, (chunks) => {
        const bytes = encodeEntry('chunks', 7, chunks)
        for (let len = 0; len < bytes.length; len++)
          assert.equal(decodeEntry(bytes.subarray(0, len), 'chunks', 7), undefined)
        for (let i = 0; i < bytes.length; i++) {
          const bad = bytes.slice()
          bad[i] ^= 0x01
          assert.equal(decodeEntry(bad, 'chunks', 7), undefined, `byte ${i} flipped`)
        }
        const longer = new Uint8Array(bytes.length + 1)
        longer.set(bytes)
        assert.equal(decodeEntry(longer, 'chunks', 7), undefined)
        assert.equal(decodeEntry(bytes, 'chunks', 8), undefined)
        assert.equal(decodeEntry(bytes, 'snapshot', 7), undefined)
      }),
      { numRuns: 50 },
    )
  })
})
