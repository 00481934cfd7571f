import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { describe, it } from 'node:test'
import { hsalsa20, XSalsa20Stream } from '../../node/net/xsalsa20-simd.ts'

/** Stock pnet's cipher, the reference. */
const xsalsa20 = createRequire(import.meta.url)('xsalsa20') as {
  (nonce: Uint8Array, key: Uint8Array): { update(input: Uint8Array): Uint8Array }
  core_hsalsa20(out: Uint8Array, nonce: Uint8Array, key: Uint8Array, sigma: Uint8Array): void
  SIGMA: Uint8Array
}

/** One Salsa20 keystream block, scalar, with a 64-bit block counter (the carry case). */
function salsaBlock(subkey: number[], nonceTail: Uint8Array, block: bigint): Uint8Array {
  const n = new DataView(nonceTail.buffer, nonceTail.byteOffset)
  const sigma = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]
  const [k0, k1, k2, k3, k4, k5, k6, k7] = subkey
  const lo = Number(block & 0xffffffffn)
  const hi = Number(block >> 32n)
  const j = [sigma[0], k0, k1, k2, k3, sigma[1], n.getUint32(0, true), n.getUint32(4, true), lo, hi]
  j.push(sigma[2], k4, k5, k6, k7, sigma[3])
  const x = [...j]
  const r = (a: number, b: number, c: number, s: number) => {
    const u = (x[a] + x[c]) | 0
    x[b] = (x[b] ^ ((u << s) | (u >>> (32 - s)))) >>> 0
  }
  const q = (y0: number, y1: number, y2: number, y3: number) => {
    r(y0, y1, y3, 7)
    r(y1, y2, y0, 9)
    r(y2, y3, y1, 13)
    r(y3, y0, y2, 18)
  }
  for (let i = 0; i < 10; i++) {
    q(0, 4, 8, 12)
    q(5, 9, 13, 1)
    q(10, 14, 2, 6)
    q(15, 3, 7, 11)
    q(0, 1, 2, 3)
    q(5, 6, 7, 4)
    q(10, 11, 8, 9)
    q(15, 12, 13, 14)
  }
  const out = new Uint8Array(64)
  const v = new DataView(out.buffer)
  for (let w = 0; w < 16; w++) v.setUint32(4 * w, (x[w] + j[w]) >>> 0, true)
  return out
}

describe('XSalsa20Stream', () => {
  it('gives the bytes of the xsalsa20 package (stock pnet) for any split of the stream', () => {
    for (let trial = 0; trial < 3; trial++) {
      const key = randomBytes(32)
      const nonce = randomBytes(24)
      const ours = new XSalsa20Stream(nonce, key)
      const stock = xsalsa20(nonce, key)
      // empty, odd, group-sized and bigger-than-scratch (256 KiB) updates, in every order
      const sizes = [0, 1, 63, 64, 65, 255, 256, 257, 1000, 65536, 300_001, 3, 4096 + 17]
      for (let i = 0; i < 60; i++) {
        const data = randomBytes(sizes[(i * 7 + trial) % sizes.length])
        assert.deepEqual(Buffer.from(ours.update(data)), Buffer.from(stock.update(data)), `update ${i}`)
      }
    }
  })

  it('hsalsa20 derives the subkey the xsalsa20 package derives', () => {
    const key = randomBytes(32)
    const nonce = randomBytes(16)
    const out = new Uint8Array(32)
    xsalsa20.core_hsalsa20(out, nonce, key, xsalsa20.SIGMA)
    const words = Array.from({ length: 8 }, (_, i) => new DataView(out.buffer).getUint32(4 * i, true))
    assert.deepEqual(hsalsa20(key, nonce), words)
  })

  it('carries the block counter into its high word (blocks around 2^32, four lanes at a time)', () => {
    const key = randomBytes(32)
    const nonce = randomBytes(24)
    const subkey = hsalsa20(key, nonce.subarray(0, 16))
    const keystream = (first: bigint, blocks: number) =>
      Buffer.concat(Array.from({ length: blocks }, (_, i) => salsaBlock(subkey, nonce.subarray(16), first + BigInt(i))))
    // the scalar reference is right where the stock cipher can check it
    assert.deepEqual(keystream(0n, 9), Buffer.from(xsalsa20(nonce, key).update(new Uint8Array(9 * 64))))
    for (const first of [2 ** 32 - 1, 2 ** 32 - 2, 2 ** 32 - 3, 2 ** 33 - 5]) {
      const got = new XSalsa20Stream(nonce, key, first).update(new Uint8Array(12 * 64))
      assert.deepEqual(Buffer.from(got), keystream(BigInt(first), 12), `from block ${first}`)
    }
  })

  it('refuses short keys and nonces', () => {
    assert.throws(() => new XSalsa20Stream(new Uint8Array(23), new Uint8Array(32)), RangeError)
    assert.throws(() => new XSalsa20Stream(new Uint8Array(24), new Uint8Array(31)), RangeError)
  })
})
