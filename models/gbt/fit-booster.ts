import type { GbtHyper } from '../registry/index.ts'
import type { Dataset, Split } from '../types.ts'
import { EarlyStopping, parseEvalMetric } from './early-stopping.ts'
import type { BoosterHandle, DMatrixHandle, XgboostLibrary } from './xgboost-lib.ts'

/** Print a progress line every this many rounds (and on the first and last). */
export const PROGRESS_EVERY_ROUNDS = 10

/** What {@link fitBooster} needs: the data, the split, the hypers and the run's hooks. */
export interface FitBoosterInput {
  readonly data: Dataset
  readonly split: Split
  readonly hyper: GbtHyper
  readonly seed: number
  readonly progress: (line: string) => void
  readonly signal: AbortSignal
}

/** A trained booster, cut to its best round, with its val/test probabilities. */
export interface FittedBooster {
  /** XGBoost JSON model holding rounds `0..bestIteration`. */
  readonly modelJson: Uint8Array
  /** Softprob rows x classes, in `split.val` order. */
  readonly valProba: Float32Array
  /** Softprob rows x classes, in `split.test` order. */
  readonly testProba: Float32Array
  /** 0-based round with the lowest val mlogloss. */
  readonly bestIteration: number
  /** Val mlogloss at `bestIteration`, as XGBoost printed it. */
  readonly bestScore: number
  /** Rounds trained before stopping (early or at `num_boost_round`). */
  readonly roundsTrained: number
}

/**
 * XGBoost parameters of a gbt job, as (name, value) strings in the order they are set.
 *
 * @remarks Shared with the benchmark so that Python trains with the very same strings.
 * `validate_parameters` is what Python's `Booster` sets too.
 */
export function boosterParams(hyper: GbtHyper, numClass: number, seed: number): [string, string][] {
  return [
    ['validate_parameters', '1'],
    ['objective', 'multi:softprob'],
    ['num_class', String(numClass)],
    ['tree_method', 'hist'],
    ['eval_metric', 'mlogloss'],
    ['seed', String(seed)],
    ['max_depth', String(hyper.max_depth)],
    ['eta', String(hyper.eta)],
    ['subsample', String(hyper.subsample)],
    ['colsample_bytree', String(hyper.colsample_bytree)],
    ['min_child_weight', String(hyper.min_child_weight)],
    ['lambda', String(hyper.lambda)],
    ['nthread', String(hyper.nthread)],
  ]
}

/**
 * Trains a `multi:softprob` booster on the train rows with early stopping on val
 * mlogloss, keeps only the rounds up to the best one, and predicts val and test.
 *
 * @remarks Yields to the event loop between rounds and stops (throwing the abort
 * reason) once `signal` is aborted. Each split's rows are copied into XGBoost one at a
 * time (a contiguous split is passed without a copy), and the train matrix is freed
 * before predicting, to keep the peak memory near one copy of the data. Every handle is
 * freed, also on failure.
 */
export async function fitBooster(lib: XgboostLibrary, input: FitBoosterInput): Promise<FittedBooster> {
  const { data, split, hyper, signal } = input
  const numClass = data.classes.length
  if (numClass < 2) throw new Error(`gbt needs at least 2 classes; dataset ${data.name} has ${numClass}`)
  if (split.train.length === 0) throw new Error('gbt: the train split is empty; check split.test_hosts and train_hosts')
  if (split.val.length === 0) {
    throw new Error('gbt: the val split is empty, and early stopping needs it; raise split.val_frac or add episodes')
  }
  signal.throwIfAborted()
  const nthread = hyper.nthread
  const dmats: DMatrixHandle[] = []
  const boosters: BoosterHandle[] = []
  const matrix = (rows: Int32Array): DMatrixHandle => {
    const dm = lib.createDMatrix(gatherRows(data, rows), rows.length, data.features.length, nthread)
    dmats.push(dm)
    lib.setFloatInfo(dm, 'label', labelsAsFloat(data, rows))
    return dm
  }
  const predict = (booster: BoosterHandle, dm: DMatrixHandle, rows: number): Float32Array => {
    const { values, shape } = lib.predict(booster, dm)
    if (values.length !== rows * numClass) {
      throw new Error(`XGBoost predicted shape [${shape}] for ${rows} rows of ${numClass} classes`)
    }
    return values
  }
  const free = (dm: DMatrixHandle): void => {
    dmats.splice(dmats.indexOf(dm), 1)
    lib.freeDMatrix(dm)
  }
  try {
    const dtrain = matrix(split.train)
    const dval = matrix(split.val)
    const booster = lib.createBooster([dtrain, dval])
    boosters.push(booster)
    for (const [name, value] of boosterParams(hyper, numClass, input.seed)) lib.setParam(booster, name, value)

    const stopping = new EarlyStopping(hyper.early_stopping_rounds)
    const total = hyper.num_boost_round
    let rounds = 0
    for (let iter = 0; iter < total; iter++) {
      await yieldToEventLoop()
      signal.throwIfAborted()
      lib.updateOneIter(booster, iter, dtrain)
      const loss = parseEvalMetric(lib.evalOneIter(booster, iter, [dval], ['val']), 'val', 'mlogloss')
      rounds = iter + 1
      const stop = stopping.update(iter, loss)
      if (stop || iter === 0 || rounds % PROGRESS_EVERY_ROUNDS === 0 || rounds === total) {
        input.progress(
          `gbt round ${rounds}/${total} val mlogloss ${loss.toFixed(6)} ` +
            `(best ${stopping.bestScore.toFixed(6)} at round ${stopping.bestIteration + 1})` +
            (stop ? `: stopping, no improvement in ${hyper.early_stopping_rounds} rounds` : ''),
        )
      }
      if (stop) break
    }
    free(dtrain)

    const best = lib.slice(booster, 0, stopping.bestIteration + 1)
    boosters.push(best)
    lib.setAttr(best, 'best_iteration', String(stopping.bestIteration))
    lib.setAttr(best, 'best_score', String(stopping.bestScore))
    const modelJson = lib.saveModelJson(best)
    const valProba = predict(best, dval, split.val.length)
    free(dval)
    let testProba: Float32Array = new Float32Array(0)
    if (split.test.length > 0) {
      const dtest = matrix(split.test)
      testProba = predict(best, dtest, split.test.length)
      free(dtest)
    }
    return {
      modelJson,
      valProba,
      testProba,
      bestIteration: stopping.bestIteration,
      bestScore: stopping.bestScore,
      roundsTrained: rounds,
    }
  } finally {
    // XGBoost's free functions fail only on a null handle, which never gets here; a failure
    // must not mask the error that brought us here, so each free is tried on its own.
    for (const b of boosters) tryFree(() => lib.freeBooster(b))
    for (const d of dmats) tryFree(() => lib.freeDMatrix(d))
  }
}

function tryFree(release: () => void): void {
  try {
    release()
  } catch {
    // see the comment at the call site
  }
}

/** The feature rows of `rows`, row-major; a contiguous ascending run is a view, not a copy. */
export function gatherRows(data: Dataset, rows: Int32Array): Float32Array {
  const f = data.features.length
  const n = rows.length
  if (n > 0 && rows[n - 1] - rows[0] === n - 1 && isAscendingRun(rows)) {
    return data.X.subarray(rows[0] * f, (rows[0] + n) * f)
  }
  const out = new Float32Array(n * f)
  for (let i = 0; i < n; i++) out.set(data.X.subarray(rows[i] * f, rows[i] * f + f), i * f)
  return out
}

function isAscendingRun(rows: Int32Array): boolean {
  for (let i = 1; i < rows.length; i++) if (rows[i] !== rows[i - 1] + 1) return false
  return true
}

function labelsAsFloat(data: Dataset, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length)
  for (let i = 0; i < rows.length; i++) out[i] = data.y[rows[i]]
  return out
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
