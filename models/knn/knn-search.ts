import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { DotKernel } from './dot-kernel.ts'
import type { KnnIndex } from './knn-index.ts'
import { createDistanceBlock, type DistanceBlock, SCAN_CHUNK } from './simd-scan.ts'

/** Options of {@link searchKnn}. */
export interface KnnSearchOptions {
  /** Checked between query blocks (the search yields to the event loop there). */
  readonly signal?: AbortSignal
  /**
   * Queries per GEMM block.
   * @default 256
   */
  readonly queryBlock?: number
  /**
   * Train rows per GEMM block.
   * @default 4096
   */
  readonly rowBlock?: number
  /**
   * Scan distances with WebAssembly SIMD (false: a plain JS loop, same results).
   * @default true
   */
  readonly simd?: boolean
}

/** Default queries per block: with {@link DEFAULT_ROW_BLOCK}, a 4 MB distance block that stays in cache. */
export const DEFAULT_QUERY_BLOCK = 256
/** Default train rows per block (see {@link DEFAULT_QUERY_BLOCK}). */
export const DEFAULT_ROW_BLOCK = 4096

/** The k nearest train rows of each query, nearest first. */
export interface Neighbours {
  readonly queries: number
  readonly k: number
  /** queries x k index rows, nearest first; equal distances in ascending row order. */
  readonly indices: Int32Array
  /** queries x k squared Euclidean distances, computed exactly in float64. */
  readonly sqDist: Float64Array
  /** Queries whose float32 candidates could not prove the answer and were searched again. */
  readonly rescanned: number
}

/** Float32 unit roundoff. */
const U32 = 2 ** -24

/**
 * Exact k-nearest-neighbour search (squared Euclidean) of row-major `queries`
 * (m x features) among the index rows.
 *
 * @remarks Three steps, each chosen for speed without giving up exactness:
 * 1. Per block of queries x train rows, one float32 GEMM gives `a_j = ||x_j||² - 2 q·x_j`.
 *    A scan keeps each query's `K' = 2k + 8` smallest `a_j` in a sorted array: a SIMD
 *    pass (simd-scan.ts) skips 16-value chunks with nothing below the current K'-th
 *    value, and nothing is allocated per distance.
 * 2. The candidates are re-ranked by the exact float64 distance `Σ (q_l - x_l)²` of the
 *    float32 inputs, ties to the smaller row index.
 * 3. Float32 rounding cannot have dropped a true neighbour when the worst candidate's
 *    `a + ||q||²` exceeds `D² + ε (2||q|| + D)²` (D = exact k-th distance, ε = 4 (d + 1) u,
 *    u = 2⁻²⁴, d = features + 1): the GEMM error of `||q - x||²` is at most
 *    `2 γ_{d+1} (||q|| + ||x||)²` in any summation order, and `||x|| <= ||q|| + D` for any
 *    row as near as D. Queries that fail the test (exact duplicates, ties) are searched
 *    again, collecting every row with `a_j` under that bound, and resolved exactly.
 * So the result does not depend on the kernel (OpenBLAS or JS), its thread count or its
 * summation order: it is the exact top k by float64 distance with ties to the smaller row.
 */
export async function searchKnn(
  index: KnnIndex,
  queries: Float32Array,
  k: number,
  kernel: DotKernel,
  opts: KnnSearchOptions = {},
): Promise<Neighbours> {
  const { rows: n, features: f, depth: d, augmented: X } = index
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`)
  if (k > n) throw new RangeError(`k = ${k} exceeds the ${n} rows of the index; lower k or add rows`)
  if (queries.length % f !== 0)
    throw new RangeError(`query matrix length ${queries.length} is not a multiple of ${f} features`)
  const m = queries.length / f
  const indices = new Int32Array(m * k)
  const sqDist = new Float64Array(m * k)
  if (m === 0) return { queries: 0, k, indices, sqDist, rescanned: 0 }

  const qb = Math.max(1, Math.min(opts.queryBlock ?? DEFAULT_QUERY_BLOCK, m))
  const nb = Math.max(1, Math.min(opts.rowBlock ?? DEFAULT_ROW_BLOCK, n))
  const kc = Math.min(n, 2 * k + 8)
  const eps = 4 * (d + 1) * U32
  const ldc = Math.ceil(nb / SCAN_CHUNK) * SCAN_CHUNK
  const qa = new Float32Array(qb * d)
  const qq = new Float64Array(qb)
  const block = createDistanceBlock(qb * ldc, opts.simd ?? true)
  const topA = new Float64Array(qb * kc)
  const topI = new Int32Array(qb * kc)
  const have = new Int32Array(qb)
  const exD = new Float64Array(kc)
  const exI = new Int32Array(kc)
  const redoQuery: number[] = []
  const redoLimit: number[] = []

  for (let q0 = 0; q0 < m; q0 += qb) {
    const mb = Math.min(qb, m - q0)
    augmentQueries(queries, q0, mb, f, qa, qq)
    have.fill(0)
    for (let x0 = 0; x0 < n; x0 += nb) {
      const w = Math.min(nb, n - x0)
      kernel.product(mb, w, d, qa, 0, X, x0, block.values, ldc)
      for (let i = 0; i < mb; i++) scanRow(block, i * ldc, w, x0, topA, topI, i * kc, kc, have, i)
    }
    for (let i = 0; i < mb; i++) {
      const q = q0 + i
      const slot = i * kc
      for (let c = 0; c < kc; c++) {
        const j = topI[slot + c]
        exD[c] = exactSqDist(queries, q * f, X, j * d, f)
        exI[c] = j
      }
      sortByDistThenIndex(exD, exI, kc)
      const dk = exD[k - 1]
      const reach = Math.sqrt(qq[i]) * 2 + Math.sqrt(dk)
      const limit = dk + eps * reach * reach
      if (kc < n && topA[slot + kc - 1] + qq[i] <= limit) {
        redoQuery.push(q)
        redoLimit.push(limit - qq[i])
        continue
      }
      indices.set(exI.subarray(0, k), q * k)
      sqDist.set(exD.subarray(0, k), q * k)
    }
    await pause(opts.signal)
  }

  if (redoQuery.length > 0)
    await rescan(index, queries, k, kernel, redoQuery, redoLimit, qb, nb, block, indices, sqDist, opts)
  return { queries: m, k, indices, sqDist, rescanned: redoQuery.length }
}

/** Keeps the `kc` smallest values of one distance row in a sorted slot; allocation-free. */
function scanRow(
  block: DistanceBlock,
  base: number,
  w: number,
  x0: number,
  topA: Float64Array,
  topI: Int32Array,
  slot: number,
  kc: number,
  have: Int32Array,
  i: number,
): void {
  const values = block.values
  let count = have[i]
  let worst = count === kc ? topA[slot + kc - 1] : Number.POSITIVE_INFINITY
  const whole = base + w - (w % SCAN_CHUNK)
  let pos = base
  while (pos < whole) {
    const hit = block.firstChunkBelow(pos, whole, worst)
    if (hit >= whole) break
    for (let j = hit; j < hit + SCAN_CHUNK; j++) {
      const v = values[j]
      if (v < worst) {
        count = insertCandidate(topA, topI, slot, kc, count, v, x0 + j - base)
        if (count === kc) worst = topA[slot + kc - 1]
      }
    }
    pos = hit + SCAN_CHUNK
  }
  for (let j = whole; j < base + w; j++) {
    const v = values[j]
    if (v < worst) {
      count = insertCandidate(topA, topI, slot, kc, count, v, x0 + j - base)
      if (count === kc) worst = topA[slot + kc - 1]
    }
  }
  have[i] = count
}

/** Inserts (v, row) into a sorted slot of `count` <= kc entries, dropping the last when full; returns the new count. */
function insertCandidate(
  topA: Float64Array,
  topI: Int32Array,
  slot: number,
  kc: number,
  count: number,
  v: number,
  row: number,
): number {
  let p = count < kc ? count++ : kc - 1
  while (p > 0 && topA[slot + p - 1] > v) {
    topA[slot + p] = topA[slot + p - 1]
    topI[slot + p] = topI[slot + p - 1]
    p--
  }
  topA[slot + p] = v
  topI[slot + p] = row
  return count
}

/** Second pass for the queries step 3 could not settle: every row under the bound, resolved exactly. */
async function rescan(
  index: KnnIndex,
  queries: Float32Array,
  k: number,
  kernel: DotKernel,
  redoQuery: number[],
  redoLimit: number[],
  qb: number,
  nb: number,
  block: DistanceBlock,
  indices: Int32Array,
  sqDist: Float64Array,
  opts: KnnSearchOptions,
): Promise<void> {
  const { rows: n, features: f, depth: d, augmented: X } = index
  const ldc = block.values.length / qb
  const dist = block.values
  const qa = new Float32Array(qb * d)
  const qq = new Float64Array(qb)
  const picked = new Float32Array(qb * f)
  const bestD = new Float64Array(k)
  const bestI = new Int32Array(k)
  for (let r0 = 0; r0 < redoQuery.length; r0 += qb) {
    const mb = Math.min(qb, redoQuery.length - r0)
    for (let i = 0; i < mb; i++) {
      const q = redoQuery[r0 + i]
      picked.set(queries.subarray(q * f, q * f + f), i * f)
    }
    augmentQueries(picked, 0, mb, f, qa, qq)
    const near: number[][] = Array.from({ length: mb }, () => [])
    for (let x0 = 0; x0 < n; x0 += nb) {
      const w = Math.min(nb, n - x0)
      kernel.product(mb, w, d, qa, 0, X, x0, dist, ldc)
      for (let i = 0; i < mb; i++) {
        const limit = redoLimit[r0 + i]
        const base = i * ldc
        const list = near[i]
        for (let j = 0; j < w; j++) if (dist[base + j] <= limit) list.push(x0 + j)
      }
    }
    for (let i = 0; i < mb; i++) {
      const q = redoQuery[r0 + i]
      // Rows arrive in ascending order, so a strict `<` keeps ties on the smaller row.
      bestD.fill(Number.POSITIVE_INFINITY)
      bestI.fill(-1)
      for (const j of near[i]) {
        const v = exactSqDist(picked, i * f, X, j * d, f)
        if (v < bestD[k - 1]) {
          let p = k - 1
          while (p > 0 && bestD[p - 1] > v) {
            bestD[p] = bestD[p - 1]
            bestI[p] = bestI[p - 1]
            p--
          }
          bestD[p] = v
          bestI[p] = j
        }
      }
      if (bestI[k - 1] < 0)
        throw new Error(`knn search: query ${q} kept ${near[i].length} rows under its bound, fewer than k = ${k}`)
      indices.set(bestI, q * k)
      sqDist.set(bestD, q * k)
    }
    await pause(opts.signal)
  }
}

/** Writes `[-2q, 1]` rows for `mb` queries from `q0`, and their float64 squared norms. */
function augmentQueries(
  queries: Float32Array,
  q0: number,
  mb: number,
  f: number,
  qa: Float32Array,
  qq: Float64Array,
): void {
  const d = f + 1
  for (let i = 0; i < mb; i++) {
    const src = (q0 + i) * f
    const dst = i * d
    let s = 0
    for (let l = 0; l < f; l++) {
      const v = queries[src + l]
      qa[dst + l] = -2 * v
      s += v * v
    }
    qa[dst + f] = 1
    qq[i] = s
  }
}

/** Σ (q_l - x_l)² in float64. */
function exactSqDist(q: Float32Array, qOff: number, X: Float32Array, xOff: number, f: number): number {
  let s = 0
  for (let l = 0; l < f; l++) {
    const t = q[qOff + l] - X[xOff + l]
    s += t * t
  }
  return s
}

/** Insertion sort of the first `len` pairs by distance, then row index. */
function sortByDistThenIndex(dist: Float64Array, idx: Int32Array, len: number): void {
  for (let a = 1; a < len; a++) {
    const v = dist[a]
    const j = idx[a]
    let p = a
    while (p > 0 && (dist[p - 1] > v || (dist[p - 1] === v && idx[p - 1] > j))) {
      dist[p] = dist[p - 1]
      idx[p] = idx[p - 1]
      p--
    }
    dist[p] = v
    idx[p] = j
  }
}

async function pause(signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted()
  await yieldToLoop()
  signal?.throwIfAborted()
}
