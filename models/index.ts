/**
 * The models/ API for other folders: datasets, splits, metrics, the model registry,
 * bundles and the trainer entry point.
 *
 * @remarks The trainers themselves (gbt/, knn/, neural/) are not re-exported: they load
 * native libraries or tfjs, so they are reached through `loadTrainer(model)` on demand.
 */
export * from './bundle/index.ts'
export * from './dataset/index.ts'
export { type ClassificationMetrics, classificationMetrics, confusionMatrix, macroF1 } from './metrics.ts'
export { checkOutputLocation, OutputPathError } from './output-path.ts'
export * from './registry/index.ts'
export {
  DEFAULT_VAL_FRAC,
  fitScaler,
  labelsOf,
  type SplitParams,
  splitRows,
  standardize,
  uniformHash,
} from './split.ts'
export {
  assertSplitUsable,
  checkTrainRequest,
  OutputExistsError,
  runTrainJob,
  TrainInputError,
  type TrainJobDeps,
  type TrainJobRequest,
  type TrainJobResult,
} from './train-job.ts'
export { loadTrainer } from './trainers.ts'
export type { Dataset, Scaler, Split, TrainContext, TrainedModel, Trainer } from './types.ts'
