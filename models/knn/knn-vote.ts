import type { Neighbours } from './knn-search.ts'

/** Uniform votes of each query's k neighbours. */
export interface Votes {
  /** Winning class per query: most votes, ties to the smallest class index. */
  readonly pred: Int32Array
  /** Votes of the winning class per query (its vote share is `topVotes / k`). */
  readonly topVotes: Int32Array
}

/**
 * Uniform vote over the neighbours' labels, ties to the smallest class index.
 *
 * @remarks scikit-learn's `KNeighborsClassifier.predict` (uniform weights) takes the
 * mode of the neighbour labels, and its mode returns the smallest of tied values.
 */
export function voteNeighbours(neighbours: Neighbours, labels: Int32Array, nClasses: number): Votes {
  const { queries, k, indices } = neighbours
  const pred = new Int32Array(queries)
  const topVotes = new Int32Array(queries)
  const counts = new Int32Array(nClasses)
  for (let q = 0; q < queries; q++) {
    counts.fill(0)
    for (let c = 0; c < k; c++) {
      const label = labels[indices[q * k + c]]
      if (label < 0 || label >= nClasses)
        throw new RangeError(`label ${label} of row ${indices[q * k + c]} is outside the ${nClasses} classes`)
      counts[label]++
    }
    let best = 0
    for (let c = 1; c < nClasses; c++) if (counts[c] > counts[best]) best = c
    pred[q] = best
    topVotes[q] = counts[best]
  }
  return { pred, topVotes }
}
