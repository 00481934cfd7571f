/**
 * A small seeded PRNG (xoshiro128**) with uniform and gaussian draws.
 *
 * @remarks Written here rather than taken from npm because the generator's output is
 * part of the synthetic dataset's identity: the exact sequence must never change with a
 * dependency upgrade. 32-bit arithmetic (`Math.imul`, `>>>`) keeps it fast in V8.
 */
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number
  private spare = Number.NaN

  /** Seeds the four state words from `seed` words through splitmix32. */
  constructor(...seed: number[]) {
    let s = 0x9e3779b9
    for (const w of seed) s = splitmix32(s ^ (w >>> 0))
    this.a = s = splitmix32(s)
    this.b = s = splitmix32(s)
    this.c = s = splitmix32(s)
    this.d = splitmix32(s) | 1
  }

  /** The next 32-bit unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return r
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n)
  }

  /** Standard normal (Box-Muller, the second value of each pair cached). */
  gaussian(): number {
    const spare = this.spare
    if (!Number.isNaN(spare)) {
      this.spare = Number.NaN
      return spare
    }
    const u = 1 - this.uniform()
    const v = this.uniform()
    const r = Math.sqrt(-2 * Math.log(u))
    const theta = 2 * Math.PI * v
    this.spare = r * Math.sin(theta)
    return r * Math.cos(theta)
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

/** One splitmix32 step: a well-mixed 32-bit hash of `x`. */
export function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}
