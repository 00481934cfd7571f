import { GbtHyper } from '../registry/index.ts'
import type { TrainContext, TrainedModel, Trainer } from '../types.ts'
import { fitBooster } from './fit-booster.ts'
import { gbtReadme } from './readme.ts'
import { argmaxRows } from './softprob.ts'
import { loadXgboost } from './xgboost-lib.ts'

/** The bundle file holding the booster. */
export const GBT_MODEL_FILE = 'model.xgb.json'

/**
 * Trains the `gbt` model: XGBoost `multi:softprob` with the `hist` tree method on the
 * raw features (NaN = missing), early stopping on val mlogloss.
 *
 * @remarks The bundle's `model.xgb.json` holds the rounds up to the best one, and the
 * val/test predictions come from exactly that model. The same job on the same data and
 * library gives the same bytes.
 * @throws {XgboostMissingError} when no libxgboost is installed, saying how to install it.
 */
export const trainGbt: Trainer = async (ctx: TrainContext): Promise<TrainedModel> => {
  const lib = loadXgboost()
  const hyper = GbtHyper.parse(ctx.job.hyper)
  const numClass = ctx.data.classes.length
  const fit = await fitBooster(lib, {
    data: ctx.data,
    split: ctx.split,
    hyper,
    seed: ctx.job.seed,
    progress: ctx.progress,
    signal: ctx.signal,
  })
  return {
    files: new Map([[GBT_MODEL_FILE, fit.modelJson]]),
    valPred: argmaxRows(fit.valProba, numClass),
    testPred: argmaxRows(fit.testProba, numClass),
    extraBundle: {
      best_iteration: fit.bestIteration,
      best_val_mlogloss: fit.bestScore,
      rounds_trained: fit.roundsTrained,
      xgboost_version: lib.version,
    },
    runInfo: { xgboost_library: lib.path, xgboost_version: lib.version, xgboost_cuda: lib.cuda },
    readme: gbtReadme({
      xgboostVersion: lib.version,
      bestIteration: fit.bestIteration,
      roundsTrained: fit.roundsTrained,
      numClass,
    }),
  }
}
