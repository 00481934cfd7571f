import { createHash } from 'node:crypto'
import type { Dataset, Scaler, Split } from './types.ts'

/**
 * The contract's uniform hash: first 8 bytes of sha256(UTF-8 key), big-endian, / 2^64.
 * @remarks Computed in BigInt and converted once, so Python's `int.from_bytes(...) / 2**64` agrees.
 */
export function uniformHash(key: string): number {
  const d = createHash('sha256').update(key, 'utf8').digest()
  return Number(d.readBigUInt64BE(0)) / 2 ** 64
}

/** The split fields a job carries. */
export interface SplitParams {
  readonly test_hosts?: readonly string[]
  readonly val_frac?: number
  readonly train_hosts?: readonly string[]
  readonly seed: number
}

/** Default share of train-host episodes that go to val. */
export const DEFAULT_VAL_FRAC = 0.2

/**
 * Splits rows by the contract's recipe: test = rows of `test_hosts`; the others (only
 * `train_hosts` when non-empty) go to val by whole episode when
 * `u("{seed}:val:{host}:{episode}") < val_frac`, else to train.
 */
export function splitRows(data: Dataset, params: SplitParams): Split {
  const testHosts = new Set(params.test_hosts ?? [])
  const trainHosts = new Set(params.train_hosts ?? [])
  const valFrac = params.val_frac ?? DEFAULT_VAL_FRAC
  const train: number[] = []
  const val: number[] = []
  const test: number[] = []
  const episodeToVal = new Map<string, boolean>()
  for (let i = 0; i < data.rows; i++) {
    const host = data.hosts[data.hostOf[i]]
    if (testHosts.has(host)) {
      test.push(i)
      continue
    }
    if (trainHosts.size > 0 && !trainHosts.has(host)) continue
    const episode = data.episodes[data.episodeOf[i]]
    const key = `${params.seed}:val:${host}:${episode}`
    let toVal = episodeToVal.get(key)
    if (toVal === undefined) {
      toVal = uniformHash(key) < valFrac
      episodeToVal.set(key, toVal)
    }
    ;(toVal ? val : train).push(i)
  }
  return { train: Int32Array.from(train), val: Int32Array.from(val), test: Int32Array.from(test) }
}

/**
 * Fits the standardisation on train rows: mean and population std (÷n) of the
 * non-missing values per feature; a std of 0 (or no values) becomes 1.
 */
export function fitScaler(data: Dataset, rows: Int32Array): Scaler {
  const f = data.features.length
  const sum = new Float64Array(f)
  const count = new Float64Array(f)
  for (const r of rows) {
    const off = r * f
    for (let j = 0; j < f; j++) {
      const v = data.X[off + j]
      if (!Number.isNaN(v)) {
        sum[j] += v
        count[j]++
      }
    }
  }
  const mean = new Float64Array(f)
  for (let j = 0; j < f; j++) mean[j] = count[j] > 0 ? sum[j] / count[j] : 0
  const sq = new Float64Array(f)
  for (const r of rows) {
    const off = r * f
    for (let j = 0; j < f; j++) {
      const v = data.X[off + j]
      if (!Number.isNaN(v)) {
        const d = v - mean[j]
        sq[j] += d * d
      }
    }
  }
  const std = new Float32Array(f)
  for (let j = 0; j < f; j++) {
    const s = count[j] > 0 ? Math.sqrt(sq[j] / count[j]) : 0
    std[j] = s === 0 ? 1 : s
  }
  return { mean: Float32Array.from(mean), std }
}

/**
 * Standardised copy of `rows` (row-major, rows.length x features): (x - mean) / std,
 * missing values becoming the train mean (so 0).
 */
export function standardize(data: Dataset, rows: Int32Array, scaler: Scaler): Float32Array {
  const f = data.features.length
  const out = new Float32Array(rows.length * f)
  for (let i = 0; i < rows.length; i++) {
    const src = rows[i] * f
    const dst = i * f
    for (let j = 0; j < f; j++) {
      const v = data.X[src + j]
      out[dst + j] = !Number.isNaN(v) ? (v - scaler.mean[j]) / scaler.std[j] : 0
    }
  }
  return out
}

/** Class indices of `rows`. */
export function labelsOf(data: Dataset, rows: Int32Array): Int32Array {
  const out = new Int32Array(rows.length)
  for (let i = 0; i < rows.length; i++) out[i] = data.y[rows[i]]
  return out
}
