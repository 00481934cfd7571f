import type { DotKernel } from './dot-kernel.ts'
import { buildKnnIndex, type KnnIndex } from './knn-index.ts'
import { type KnnSearchOptions, searchKnn } from './knn-search.ts'
import { voteNeighbours } from './knn-vote.ts'

/** A memorised KNN classifier: standardised train rows and their class indices. */
export interface KnnClassifier {
  readonly k: number
  readonly classes: readonly string[]
  readonly index: KnnIndex
  /** Class index per index row. */
  readonly labels: Int32Array
}

/** Predictions of {@link predictKnn}. */
export interface KnnPrediction {
  readonly pred: Int32Array
  /** Votes of the predicted class (vote share = topVotes / k). */
  readonly topVotes: Int32Array
  /** Queries settled by the exact second pass (see `searchKnn`). */
  readonly rescanned: number
  /** Wall-clock seconds of the search and vote. */
  readonly seconds: number
}

/**
 * Memorises `select` rows (positions, default all) of the standardised matrix `X`
 * (rows x features) with their `labels` (one per selected row).
 */
export function fitKnn(
  X: Float32Array,
  features: number,
  labels: Int32Array,
  k: number,
  classes: readonly string[],
  select?: Int32Array,
): KnnClassifier {
  const index = buildKnnIndex(X, features, select)
  if (labels.length !== index.rows)
    throw new RangeError(`${labels.length} labels for ${index.rows} rows: pass one label per selected row`)
  if (k > index.rows) throw new RangeError(`hyper.k = ${k} exceeds the ${index.rows} rows the model memorises; lower k`)
  return { k, classes, index, labels }
}

/** Predicts standardised query rows (row-major, queries x features). */
export async function predictKnn(
  model: KnnClassifier,
  queries: Float32Array,
  kernel: DotKernel,
  opts: KnnSearchOptions = {},
): Promise<KnnPrediction> {
  const t0 = performance.now()
  const neighbours = await searchKnn(model.index, queries, model.k, kernel, opts)
  const { pred, topVotes } = voteNeighbours(neighbours, model.labels, model.classes.length)
  return { pred, topVotes, rescanned: neighbours.rescanned, seconds: (performance.now() - t0) / 1000 }
}
