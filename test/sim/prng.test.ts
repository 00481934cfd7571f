import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EventQueue, mixSeed, Prng } from '../../sim/index.ts'

describe('Prng', () => {
  it('is a pure function of its seed, and streams by label are independent', () => {
    const a = Array.from(
      { length: 5 },
      (
        (p) => () =>
          p.nextUint32()
      )(new Prng(42)),
    )
    const b = Array.from(
      { length: 5 },
      (
        (p) => () =>
          p.nextUint32()
      )(new Prng(42)),
    )
    assert.deepEqual(a, b)
    assert.notDeepEqual(
      a,
      Array.from(
        { length: 5 },
        (
          (p) => () =>
            p.nextUint32()
        )(new Prng(43)),
      ),
    )
    assert.notEqual(mixSeed(1, 'network'), mixSeed(1, 'faults'))
    assert.notEqual(mixSeed(1, 'x'), mixSeed(2, 'x'))
    assert.equal(Prng.stream(7, 'x').next(), Prng.stream(7, 'x').next())
  })

  it('draws uniformly enough in [0, 1) and in its ranges', () => {
    const p = new Prng(1)
    const buckets = new Array(10).fill(0)
    for (let i = 0; i < 20_000; i++) {
      const x = p.next()
      assert.ok(x >= 0 && x < 1)
      buckets[Math.floor(x * 10)]++
    }
    for (const b of buckets) assert.ok(b > 1800 && b < 2200, `bucket ${b}`)
    for (let i = 0; i < 1000; i++) {
      const k = p.int(7)
      assert.ok(Number.isInteger(k) && k >= 0 && k < 7)
    }
    assert.deepEqual([...p.shuffled([1, 2, 3, 4, 5])].sort(), [1, 2, 3, 4, 5])
  })
})

describe('EventQueue', () => {
  it('pops by time, ties in scheduling order, and never goes back in time', () => {
    const q = new EventQueue<string>()
    q.push(5, 'c')
    q.push(1, 'a')
    q.push(5, 'd')
    q.push(3, 'b')
    const out: string[] = []
    for (let e = q.pop(); e !== undefined; e = q.pop()) {
      out.push(`${e}@${q.now}`)
      if (e === 'b') q.push(0, 'late')
    }
    assert.deepEqual(out, ['a@1', 'b@3', 'late@3', 'c@5', 'd@5'])
  })
})
