/**
 * A small seeded PRNG (SplitMix32 over a 32-bit state) and the seed derivation the
 * neural trainer uses for shuffles, initializers and dropout masks.
 *
 * @remarks Our own generator, not `Math.random`, so a run is reproducible from the
 * `seed` hyper alone and Python can re-create a shuffle order if it ever needs to.
 */
export class SeededRandom {
  private state: number

  /** Starts the stream at `seed` (any integer; taken modulo 2^32). */
  constructor(seed: number) {
    this.state = seed >>> 0
  }

  /** Next unsigned 32-bit integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0
    let z = this.state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }

  /** Uniform integer in [0, n) (n <= 2^32), without modulo bias. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32)
      throw new RangeError(`nextInt: n must be an integer in [1, 2^32], got ${n}`)
    const limit = 2 ** 32 - (2 ** 32 % n)
    for (;;) {
      const v = this.nextUint32()
      if (v < limit) return v % n
    }
  }

  /** Fisher–Yates shuffle of `a` in place; returns `a`. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1)
      const t = a[i]
      a[i] = a[j]
      a[j] = t
    }
    return a
  }
}

/**
 * A 31-bit seed derived from a base seed and a path of labels, e.g.
 * `deriveSeed(seed, 'init', 3)` or `deriveSeed(seed, 'dropout', step, layer)`.
 *
 * @remarks FNV-1a over the text form, then one SplitMix round: different paths give
 * unrelated streams, and the value stays a positive int that tfjs's seeded ops accept.
 */
export function deriveSeed(seed: number, ...path: readonly (string | number)[]): number {
  const text = [seed, ...path].join('/')
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return new SeededRandom(h).nextUint32() & 0x7fffffff
}
