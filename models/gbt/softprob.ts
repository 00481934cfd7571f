/**
 * Predicted class per row of a row-major rows x `numClass` probability matrix: the
 * argmax, ties going to the smallest class index (as `numpy.argmax`).
 */
export function argmaxRows(proba: Float32Array, numClass: number): Int32Array {
  if (numClass < 1 || proba.length % numClass !== 0) {
    throw new RangeError(`argmaxRows: ${proba.length} probabilities do not split into rows of ${numClass} classes`)
  }
  const rows = proba.length / numClass
  const out = new Int32Array(rows)
  for (let r = 0; r < rows; r++) {
    const off = r * numClass
    let best = 0
    for (let c = 1; c < numClass; c++) if (proba[off + c] > proba[off + best]) best = c
    out[r] = best
  }
  return out
}
