import { type ClassificationMetrics, classificationMetrics } from '../metrics.ts'
import { labelsOf } from '../split.ts'
import type { Dataset, Scaler, Split, TrainedModel } from '../types.ts'
import { BUNDLE_JSON_FILE, bundleJsonBytes, README_FILE, SCALER_FILE } from './bundle-json.ts'
import { BundleError } from './errors.ts'
import { bundleReadme } from './readme.ts'
import { scalerJsonBytes } from './scaler-json.ts'
import { checkBundleFileName } from './write-bundle.ts'

/** The split as bundle.json records it (defaults filled). */
export interface BundleSplit {
  readonly test_hosts: readonly string[]
  readonly train_hosts: readonly string[]
  readonly val_frac: number
  readonly seed: number
}

/** What a bundle is assembled from. */
export interface AssembleInput {
  readonly jobId: string
  readonly model: string
  /** Hypers with defaults filled. */
  readonly hyper: Readonly<Record<string, unknown>>
  readonly data: Dataset
  readonly split: Split
  readonly splitParams: BundleSplit
  /** The scaler, for models on standardised features (written as scaler.json); omit for gbt. */
  readonly scaler?: Scaler
  readonly trained: TrainedModel
}

/** A bundle's files in memory with its metrics. */
export interface AssembledBundle {
  readonly files: ReadonlyMap<string, Uint8Array>
  readonly val: ClassificationMetrics
  readonly test: ClassificationMetrics
}

/**
 * Scores the trainer's val/test predictions and lays out the bundle's files:
 * bundle.json, README.md, scaler.json (standardised models) and the trainer's files.
 * @throws BundleError when the predictions do not match the split or a trainer file
 * name is invalid or reserved.
 */
export function assembleBundle(input: AssembleInput): AssembledBundle {
  const { data, split, trained } = input
  const nClasses = data.classes.length
  checkPredictions('val', trained.valPred, split.val.length, nClasses)
  checkPredictions('test', trained.testPred, split.test.length, nClasses)
  const val = classificationMetrics(labelsOf(data, split.val), trained.valPred, nClasses)
  const test = classificationMetrics(labelsOf(data, split.test), trained.testPred, nClasses)

  const reserved = new Set([BUNDLE_JSON_FILE, README_FILE, SCALER_FILE])
  const modelFiles = [...trained.files.keys()].sort()
  for (const name of modelFiles) {
    checkBundleFileName(name)
    if (reserved.has(name)) throw new BundleError(`the trainer's file "${name}" clashes with a file the bundle writes`)
  }
  const files = new Map<string, Uint8Array>()
  files.set(
    BUNDLE_JSON_FILE,
    bundleJsonBytes({
      jobId: input.jobId,
      model: input.model,
      mode: data.mode,
      hyper: input.hyper,
      schemaHash: data.schemaHash,
      features: data.features,
      classes: data.classes,
      split: {
        ...input.splitParams,
        train_rows: split.train.length,
        val_rows: split.val.length,
        test_rows: split.test.length,
      },
      val,
      test,
      extraMetrics: trained.extraMetrics,
      extraBundle: trained.extraBundle,
    }),
  )
  files.set(
    README_FILE,
    new TextEncoder().encode(
      bundleReadme({
        jobId: input.jobId,
        model: input.model,
        mode: data.mode,
        datasetName: data.name,
        schemaHash: data.schemaHash,
        features: data.features.length,
        classes: data.classes,
        standardized: input.scaler !== undefined,
        modelFiles,
        trainerReadme: trained.readme,
      }),
    ),
  )
  if (input.scaler !== undefined) files.set(SCALER_FILE, scalerJsonBytes(data.features, input.scaler))
  for (const name of modelFiles) files.set(name, trained.files.get(name)!)
  return { files, val, test }
}

function checkPredictions(part: string, pred: Int32Array, rows: number, nClasses: number): void {
  if (!(pred instanceof Int32Array))
    throw new BundleError(`the trainer's ${part} predictions must be an Int32Array of class indices`)
  if (pred.length !== rows)
    throw new BundleError(`the trainer returned ${pred.length} ${part} predictions for ${rows} ${part} rows`)
  for (let i = 0; i < pred.length; i++) {
    if (pred[i] < 0 || pred[i] >= nClasses)
      throw new BundleError(`the trainer's ${part} prediction ${i} is class ${pred[i]}, outside 0..${nClasses - 1}`)
  }
}
