import { macroF1 } from '../metrics.ts'
import { KnnSemiHyper } from '../registry/index.ts'
import { labelsOf, standardize } from '../split.ts'
import type { Trainer } from '../types.ts'
import { defaultDotKernel } from './dot-kernel.ts'
import { fitKnn, predictKnn } from './knn-classifier.ts'
import { encodeKnnFile } from './knn-file.ts'
import { selectLabelled } from './label-selection.ts'
import { knnReadme } from './readme.ts'
import { KNN_MODEL_FILE } from './train.ts'

/** Bundle file name of knn_semi's labeller (the KNN on the labelled rows only). */
export const KNN_LABELLER_FILE = 'labeller.knn.bin'

/**
 * Yarowsky-style self-training KNN: a labeller KNN on the labelled train rows
 * (`selectLabelled`) pseudo-labels the other train rows, keeping a pseudo-label when the
 * top class's vote share (`votes / k`) is >= `confidence_threshold`; the final KNN
 * memorises the labelled and the kept pseudo-labelled rows and predicts val and test.
 *
 * @remarks extraMetrics carry the labeller's own val/test macro F1 (what self-training
 * adds is the difference to the pipeline's metrics) and the row counts. Files: the
 * labeller and the final model, both in the KNN file layout.
 */
export const trainKnnSemi: Trainer = async (ctx) => {
  const { k, label_frac: labelFrac, confidence_threshold: threshold } = KnnSemiHyper.parse(ctx.job.hyper)
  const { data, split, scaler, signal } = ctx
  const f = data.features.length
  const nClasses = data.classes.length
  if (split.train.length === 0)
    throw new Error('knn_semi: the split has no train rows; check split.test_hosts, split.val_frac and train_hosts')
  const { labelled, unlabelled } = selectLabelled(data, split.train, ctx.job.seed, labelFrac)
  if (labelled.length < k)
    throw new Error(
      `knn_semi: ${labelled.length} of ${split.train.length} train rows are labelled (label_frac = ${labelFrac}), ` +
        `fewer than hyper.k = ${k}; raise label_frac or lower k`,
    )
  const { kernel, warning } = defaultDotKernel()
  if (warning) ctx.progress(`knn_semi: ${warning}`)
  ctx.progress(
    `knn_semi: ${labelled.length} labelled and ${unlabelled.length} unlabelled train rows x ${f} features, ` +
      `k=${k}; search: ${kernel.describe()}`,
  )

  const X = standardize(data, split.train, scaler)
  const y = labelsOf(data, split.train)
  const labeller = fitKnn(X, f, gather(y, labelled), k, data.classes, labelled)
  const pseudo = await predictKnn(labeller, gatherRows(X, f, unlabelled), kernel, { signal })

  const keep = new Uint8Array(split.train.length)
  const finalLabel = new Int32Array(split.train.length)
  for (const p of labelled) {
    keep[p] = 1
    finalLabel[p] = y[p]
  }
  let kept = 0
  let keptCorrect = 0
  for (let u = 0; u < unlabelled.length; u++) {
    if (pseudo.topVotes[u] / k >= threshold) {
      const p = unlabelled[u]
      keep[p] = 2
      finalLabel[p] = pseudo.pred[u]
      kept++
      if (pseudo.pred[u] === y[p]) keptCorrect++
    }
  }
  const finalRows: number[] = []
  for (let p = 0; p < keep.length; p++) if (keep[p] !== 0) finalRows.push(p)
  const finalSelect = Int32Array.from(finalRows)
  const origin = Int32Array.from(finalRows, (p) => keep[p] - 1)
  ctx.progress(
    `knn_semi: labeller pseudo-labelled ${unlabelled.length} rows in ${pseudo.seconds.toFixed(2)} s; ` +
      `kept ${kept} with vote share >= ${threshold}`,
  )
  const final = fitKnn(X, f, gather(finalLabel, finalSelect), k, data.classes, finalSelect)

  const valX = standardize(data, split.val, scaler)
  const testX = standardize(data, split.test, scaler)
  const labellerVal = await predictKnn(labeller, valX, kernel, { signal })
  const labellerTest = await predictKnn(labeller, testX, kernel, { signal })
  const val = await predictKnn(final, valX, kernel, { signal })
  ctx.progress(`knn_semi: predicted ${split.val.length} val rows in ${val.seconds.toFixed(2)} s`)
  const test = await predictKnn(final, testX, kernel, { signal })
  ctx.progress(`knn_semi: predicted ${split.test.length} test rows in ${test.seconds.toFixed(2)} s`)

  const counts = {
    labelled_rows: labelled.length,
    unlabelled_rows: unlabelled.length,
    pseudo_labelled_rows: kept,
  }
  const common = { k, featureNames: data.features, classes: data.classes, scaler }
  const files = new Map([
    [KNN_LABELLER_FILE, encodeKnnFile({ ...common, role: 'labeller', index: labeller.index, labels: labeller.labels })],
    [
      KNN_MODEL_FILE,
      encodeKnnFile({
        ...common,
        role: 'model',
        index: final.index,
        labels: final.labels,
        origin,
        extra: { label_frac: labelFrac, confidence_threshold: threshold, ...counts },
      }),
    ],
  ])
  const seconds = [pseudo, labellerVal, labellerTest, val, test].reduce((s, p) => s + p.seconds, 0)
  return {
    files,
    valPred: val.pred,
    testPred: test.pred,
    extraMetrics: {
      labeller_val_macro_f1: macroF1(labelsOf(data, split.val), labellerVal.pred, nClasses),
      labeller_test_macro_f1: macroF1(labelsOf(data, split.test), labellerTest.pred, nClasses),
      ...counts,
      pseudo_label_accuracy: kept === 0 ? 0 : keptCorrect / kept,
    },
    extraBundle: { train_rows: split.train.length, final_rows: final.index.rows },
    runInfo: {
      backend: kernel.name,
      backend_detail: kernel.describe(),
      blas_threads: kernel.threads(),
      pseudo_label_seconds: pseudo.seconds,
      val_predict_seconds: val.seconds,
      test_predict_seconds: test.seconds,
      predict_seconds: seconds,
      exact_rescans: pseudo.rescanned + labellerVal.rescanned + labellerTest.rescanned + val.rescanned + test.rescanned,
    },
    readme: knnReadme([
      {
        name: KNN_LABELLER_FILE,
        about: `the labeller: the ${labelled.length} labelled train rows (label_frac = ${labelFrac}).`,
      },
      {
        name: KNN_MODEL_FILE,
        about:
          `the final model the metrics are for: the ${labelled.length} labelled rows and the ${kept} ` +
          `pseudo-labelled rows whose labeller vote share was >= ${threshold} (section \`origin\`).`,
      },
    ]),
  }
}

function gather(values: Int32Array, positions: Int32Array): Int32Array {
  const out = new Int32Array(positions.length)
  for (let i = 0; i < positions.length; i++) out[i] = values[positions[i]]
  return out
}

function gatherRows(X: Float32Array, f: number, positions: Int32Array): Float32Array {
  const out = new Float32Array(positions.length * f)
  for (let i = 0; i < positions.length; i++) out.set(X.subarray(positions[i] * f, positions[i] * f + f), i * f)
  return out
}
