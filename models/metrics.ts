/** Classification metrics exactly as scikit-learn computes them. */
export interface ClassificationMetrics {
  macroF1: number
  accuracy: number
  /** F1 per class index (0 for a class with no support and no prediction). */
  perClassF1: number[]
  /** confusion[true][pred] over all `nClasses` classes. */
  confusion: number[][]
}

/** confusion[true][pred] counts. */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number): number[][] {
  if (yTrue.length !== yPred.length)
    throw new Error(`length mismatch: ${yTrue.length} labels vs ${yPred.length} predictions`)
  const m = Array.from({ length: nClasses }, () => new Array<number>(nClasses).fill(0))
  for (let i = 0; i < yTrue.length; i++) m[yTrue[i]][yPred[i]]++
  return m
}

/**
 * scikit-learn's `f1_score(average="macro")`: the mean F1 over the sorted union of
 * classes present in `yTrue` or `yPred`; a class in that union with no true positives
 * scores 0. Empty input scores 0.
 */
export function macroF1(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number): number {
  return classificationMetrics(yTrue, yPred, nClasses).macroF1
}

/** Macro F1, accuracy, per-class F1 and the confusion matrix of one split. */
export function classificationMetrics(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  nClasses: number,
): ClassificationMetrics {
  const confusion = confusionMatrix(yTrue, yPred, nClasses)
  const perClassF1: number[] = []
  let sum = 0
  let present = 0
  let correct = 0
  for (let c = 0; c < nClasses; c++) {
    const tp = confusion[c][c]
    correct += tp
    let support = 0
    let predicted = 0
    for (let k = 0; k < nClasses; k++) {
      support += confusion[c][k]
      predicted += confusion[k][c]
    }
    const denom = support + predicted
    const f1 = denom === 0 ? 0 : (2 * tp) / denom
    perClassF1.push(f1)
    if (denom > 0) {
      sum += f1
      present++
    }
  }
  const n = yTrue.length
  return { macroF1: present === 0 ? 0 : sum / present, accuracy: n === 0 ? 0 : correct / n, perClassF1, confusion }
}
