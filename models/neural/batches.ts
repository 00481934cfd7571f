import type { Dataset, Scaler } from '../types.ts'

/**
 * Cuts model inputs for a batch of rows straight from the dataset's typed arrays into
 * one reused buffer, standardising on the way.
 *
 * @remarks Never materialises the whole (standardised or sequence) input: memory is the
 * dataset plus one batch, so 660k x 145 windows train in bounded memory. With `seqLen`
 * null a row's input is its own standardised features (`[features]`); otherwise it is the
 * last `seqLen` windows of the row's episode ending at the row (`[seqLen, features]`,
 * oldest first), zero rows standing in for windows before the episode's start. Rows are
 * ordered by (host, episode, window), so the previous window is the previous row while
 * host and episode stay the same. Values are `(x - mean) / std` as `standardize` computes
 * them, a missing value giving 0.
 */
export class BatchGatherer {
  private readonly data: Dataset
  private readonly scaler: Scaler
  private readonly buffer: Float32Array
  private readonly labelBuffer: Int32Array
  /** Features per window. */
  readonly features: number
  /** Windows per input, or null for single-window (MLP) inputs. */
  readonly seqLen: number | null
  /** Floats per input row. */
  readonly rowSize: number
  /** Largest batch `gather` accepts. */
  readonly maxBatch: number

  constructor(data: Dataset, scaler: Scaler, seqLen: number | null, maxBatch: number) {
    if (seqLen !== null && (!Number.isInteger(seqLen) || seqLen < 1))
      throw new RangeError(`seq_len must be a positive integer, got ${seqLen}`)
    if (scaler.mean.length !== data.features.length || scaler.std.length !== data.features.length)
      throw new RangeError(
        `scaler has ${scaler.mean.length} means and ${scaler.std.length} stds for ${data.features.length} features: fit it on this dataset's mode`,
      )
    this.data = data
    this.scaler = scaler
    this.features = data.features.length
    this.seqLen = seqLen
    this.rowSize = (seqLen ?? 1) * this.features
    this.maxBatch = maxBatch
    this.buffer = new Float32Array(maxBatch * this.rowSize)
    this.labelBuffer = new Int32Array(maxBatch)
  }

  /** The shape of one input without the batch axis. */
  get inputShape(): number[] {
    return this.seqLen === null ? [this.features] : [this.seqLen, this.features]
  }

  /**
   * Inputs of `rows[start..end)` as a view of the reused buffer (valid until the next
   * call), row-major in `[n, ...inputShape]` order.
   */
  gather(rows: ArrayLike<number>, start: number, end: number): Float32Array {
    const n = end - start
    if (n < 0 || n > this.maxBatch) throw new RangeError(`batch of ${n} rows exceeds the gatherer's ${this.maxBatch}`)
    const out = this.buffer.subarray(0, n * this.rowSize)
    const T = this.seqLen
    for (let i = 0; i < n; i++) {
      const row = rows[start + i]
      if (T === null) {
        this.writeWindow(row, out, i * this.rowSize)
        continue
      }
      const host = this.data.hostOf[row]
      const episode = this.data.episodeOf[row]
      const base = i * this.rowSize
      for (let k = T - 1, src = row; k >= 0; k--, src--) {
        const dst = base + k * this.features
        if (src >= 0 && this.data.hostOf[src] === host && this.data.episodeOf[src] === episode) {
          this.writeWindow(src, out, dst)
        } else {
          out.fill(0, base, dst + this.features)
          break
        }
      }
    }
    return out
  }

  /** Class indices of `rows[start..end)` as a view of a reused buffer. */
  labels(rows: ArrayLike<number>, start: number, end: number): Int32Array {
    const n = end - start
    if (n < 0 || n > this.maxBatch) throw new RangeError(`batch of ${n} rows exceeds the gatherer's ${this.maxBatch}`)
    const out = this.labelBuffer.subarray(0, n)
    for (let i = 0; i < n; i++) out[i] = this.data.y[rows[start + i]]
    return out
  }

  private writeWindow(row: number, out: Float32Array, dst: number): void {
    const f = this.features
    const X = this.data.X
    const { mean, std } = this.scaler
    const src = row * f
    for (let j = 0; j < f; j++) {
      const v = X[src + j]
      out[dst + j] = Number.isNaN(v) ? 0 : (v - mean[j]) / std[j]
    }
  }
}
