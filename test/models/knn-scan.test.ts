import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createDistanceBlock, SCAN_CHUNK } from '../../models/knn/simd-scan.ts'
import { prng } from './knn-fixture.ts'

describe('createDistanceBlock', () => {
  test('the SIMD scan finds the same chunks as the JS scan', () => {
    const simd = createDistanceBlock(64 * SCAN_CHUNK)
    const js = createDistanceBlock(64 * SCAN_CHUNK, false)
    assert.equal(simd.kind, 'simd')
    assert.equal(js.kind, 'js')
    const rnd = prng(9)
    for (let i = 0; i < simd.values.length; i++) simd.values[i] = js.values[i] = rnd() * 100
    for (const at of [0, 15, 16, 333, 1000, 1023]) simd.values[at] = js.values[at] = -1 - at
    for (const below of [-1000, -1, 0.5, 5, Number.POSITIVE_INFINITY]) {
      const walk = (b: typeof simd) => {
        const chunks: number[] = []
        for (let p = b.firstChunkBelow(0, b.values.length, below); p < b.values.length; ) {
          chunks.push(p)
          p = b.firstChunkBelow(p + SCAN_CHUNK, b.values.length, below)
        }
        return chunks
      }
      const expected: number[] = []
      for (let c = 0; c < simd.values.length; c += SCAN_CHUNK)
        if (simd.values.subarray(c, c + SCAN_CHUNK).some((v) => v < below)) expected.push(c)
      assert.deepEqual(walk(simd), expected, `below ${below}`)
      assert.deepEqual(walk(js), expected, `below ${below} (js)`)
    }
    assert.equal(simd.firstChunkBelow(32, 48, 0), 48, 'an empty range returns its end')
  })

  test('rejects a length that is not a whole number of chunks', () => {
    assert.throws(() => createDistanceBlock(20), /not a multiple of 16/)
  })
})
