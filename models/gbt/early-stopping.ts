/**
 * Early stopping on a metric to minimise, exactly as Python xgboost 1.7's `EarlyStopping`
 * callback (`min_delta` 0): a round improves when its score is strictly below the best so
 * far; training stops once `rounds` rounds in a row have not improved.
 */
export class EarlyStopping {
  /** Rounds without improvement that stop training. */
  readonly rounds: number
  #bestIteration = -1
  #bestScore = Number.POSITIVE_INFINITY
  #sinceBest = 0

  constructor(rounds: number) {
    if (!Number.isInteger(rounds) || rounds < 1)
      throw new RangeError(`early stopping rounds must be >= 1, got ${rounds}`)
    this.rounds = rounds
  }

  /** Records `score` of round `iteration` (0-based); true when training should stop. */
  update(iteration: number, score: number): boolean {
    if (this.#bestIteration < 0) {
      this.#bestIteration = iteration
      this.#bestScore = score
    } else if (this.#bestScore > score) {
      this.#bestIteration = iteration
      this.#bestScore = score
      this.#sinceBest = 0
    } else {
      this.#sinceBest++
    }
    return this.#sinceBest >= this.rounds
  }

  /** 0-based round with the best score (-1 before the first update). */
  get bestIteration(): number {
    return this.#bestIteration
  }

  /** The best score so far. */
  get bestScore(): number {
    return this.#bestScore
  }
}

/**
 * Reads one metric from XGBoost's evaluation text, e.g. `mlogloss` of `val` from
 * `[3]\tval-mlogloss:0.41234`.
 */
export function parseEvalMetric(text: string, data: string, metric: string): number {
  const key = `${data}-${metric}`
  for (const field of text.split('\t')) {
    const colon = field.lastIndexOf(':')
    if (colon > 0 && field.slice(0, colon) === key) {
      const value = Number(field.slice(colon + 1))
      if (
        !Number.isNaN(value) ||
        field
          .slice(colon + 1)
          .trim()
          .toLowerCase() === 'nan'
      )
        return value
    }
  }
  throw new Error(`XGBoost evaluation text has no ${key}: ${JSON.stringify(text)}`)
}
