/**
 * Train rows prepared for the search: row j holds `[x_j, ||x_j||²]` (`features + 1`
 * float32 values), so one GEMM against queries `[-2q, 1]` gives `||x||² - 2 q·x`
 * directly, with no pass over the distances to add the norms.
 *
 * @remarks `x_j` is stored unchanged, so the exact float64 re-ranking and the model file
 * read the original standardised values back from here.
 */
export interface KnnIndex {
  readonly rows: number
  readonly features: number
  /** `features + 1`: the row stride of `augmented`. */
  readonly depth: number
  /** rows x depth, row-major. */
  readonly augmented: Float32Array
}

/**
 * Builds the index from a row-major rows x features matrix, keeping only `select` rows
 * (positions into `X`, in the given order) when given.
 */
export function buildKnnIndex(X: Float32Array, features: number, select?: Int32Array): KnnIndex {
  if (!Number.isInteger(features) || features < 1) throw new RangeError(`features must be >= 1, got ${features}`)
  if (X.length % features !== 0)
    throw new RangeError(`matrix length ${X.length} is not a multiple of ${features} features`)
  const rows = select ? select.length : X.length / features
  const depth = features + 1
  const augmented = new Float32Array(rows * depth)
  for (let r = 0; r < rows; r++) {
    const src = (select ? select[r] : r) * features
    const dst = r * depth
    let sq = 0
    for (let l = 0; l < features; l++) {
      const v = X[src + l]
      augmented[dst + l] = v
      sq += v * v
    }
    augmented[dst + features] = sq
  }
  return { rows, features, depth, augmented }
}

/** Copies the index's standardised rows (without the norm column) into a rows x features matrix. */
export function indexRows(index: KnnIndex, out = new Float32Array(index.rows * index.features)): Float32Array {
  const { rows, features, depth, augmented } = index
  if (out.length !== rows * features)
    throw new RangeError(`output holds ${out.length} values, the index needs ${rows * features}`)
  for (let r = 0; r < rows; r++) out.set(augmented.subarray(r * depth, r * depth + features), r * features)
  return out
}
