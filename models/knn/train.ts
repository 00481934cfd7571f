import { KnnHyper } from '../registry/index.ts'
import { labelsOf, standardize } from '../split.ts'
import type { Trainer } from '../types.ts'
import { defaultDotKernel } from './dot-kernel.ts'
import { fitKnn, predictKnn } from './knn-classifier.ts'
import { encodeKnnFile } from './knn-file.ts'
import { knnReadme } from './readme.ts'

/** Bundle file name of the model a KNN job predicts with. */
export const KNN_MODEL_FILE = 'model.knn.bin'

/**
 * KNN trainer: memorises the standardised train rows and predicts val and test with
 * k nearest neighbours (Euclidean, uniform vote, ties to the smallest class).
 *
 * @remarks The cost is the search, reported as predict seconds in `runInfo` (not in the
 * deterministic bundle). Predictions equal scikit-learn's brute-force
 * `KNeighborsClassifier` up to exact distance ties (see `searchKnn`).
 */
export const trainKnn: Trainer = async (ctx) => {
  const { k } = KnnHyper.parse(ctx.job.hyper)
  const { data, split, scaler, signal } = ctx
  const f = data.features.length
  if (split.train.length === 0)
    throw new Error('knn: the split has no train rows; check split.test_hosts, split.val_frac and train_hosts')
  if (k > split.train.length)
    throw new Error(`knn: hyper.k = ${k} exceeds the ${split.train.length} train rows; lower k`)
  const { kernel, warning } = defaultDotKernel()
  if (warning) ctx.progress(`knn: ${warning}`)
  ctx.progress(`knn: memorising ${split.train.length} train rows x ${f} features, k=${k}; search: ${kernel.describe()}`)

  const model = fitKnn(standardize(data, split.train, scaler), f, labelsOf(data, split.train), k, data.classes)
  const val = await predictKnn(model, standardize(data, split.val, scaler), kernel, { signal })
  ctx.progress(`knn: predicted ${split.val.length} val rows in ${val.seconds.toFixed(2)} s`)
  const test = await predictKnn(model, standardize(data, split.test, scaler), kernel, { signal })
  ctx.progress(`knn: predicted ${split.test.length} test rows in ${test.seconds.toFixed(2)} s`)

  const file = encodeKnnFile({
    role: 'model',
    k,
    index: model.index,
    labels: model.labels,
    featureNames: data.features,
    classes: data.classes,
    scaler,
  })
  return {
    files: new Map([[KNN_MODEL_FILE, file]]),
    valPred: val.pred,
    testPred: test.pred,
    extraBundle: { train_rows: model.index.rows },
    runInfo: {
      backend: kernel.name,
      backend_detail: kernel.describe(),
      blas_threads: kernel.threads(),
      val_predict_seconds: val.seconds,
      test_predict_seconds: test.seconds,
      predict_seconds: val.seconds + test.seconds,
      exact_rescans: val.rescanned + test.rescanned,
    },
    readme: knnReadme([
      { name: KNN_MODEL_FILE, about: `the ${model.index.rows} standardised train rows and their labels (k = ${k}).` },
    ]),
  }
}
