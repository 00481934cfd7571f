/** Keras's clipping of probabilities before the log (as `fitModel`'s loss). */
export const CLIP_EPSILON = 1e-7

/**
 * Softmax of `n` rows of `k` logits, Keras's clipped cross-entropy against `labels`, and
 * its gradient with respect to the logits averaged over the batch, written to `delta`.
 * Returns the summed (not averaged) loss.
 *
 * @remarks `d(-log p_y)/dz_j = p_j - [j = y]`; rows whose probability is clipped get no
 * gradient, as tfjs's gradient of `clipByValue` gives none. `probs` is scratch space of
 * at least `n * k` values.
 */
export function softmaxCrossEntropy(
  logits: Float32Array,
  labels: Int32Array,
  n: number,
  k: number,
  probs: Float64Array,
  delta: Float32Array,
): number {
  let loss = 0
  for (let r = 0; r < n; r++) {
    const o = r * k
    let max = -Infinity
    for (let j = 0; j < k; j++) if (logits[o + j] > max) max = logits[o + j]
    let sum = 0
    for (let j = 0; j < k; j++) {
      const e = Math.exp(logits[o + j] - max)
      probs[o + j] = e
      sum += e
    }
    const y = labels[r]
    const py = probs[o + y] / sum
    const clipped = py <= CLIP_EPSILON || py >= 1 - CLIP_EPSILON
    loss -= Math.log(Math.min(Math.max(py, CLIP_EPSILON), 1 - CLIP_EPSILON))
    for (let j = 0; j < k; j++) delta[o + j] = clipped ? 0 : (probs[o + j] / sum - (j === y ? 1 : 0)) / n
  }
  return loss
}

/**
 * Fills `mask[0..size)` with an inverted-dropout mask: `1 / (1 - rate)` for kept units, 0
 * for dropped ones, one draw of `SeededRandom(seed).nextUint32()` per unit (inlined), a
 * unit kept when its draw is below `(1 - rate) * 2^32`.
 */
export function fillDropoutMask(mask: Float32Array, size: number, rate: number, seed: number): void {
  const threshold = (1 - rate) * 2 ** 32
  const scale = 1 / (1 - rate)
  let state = seed >>> 0
  for (let i = 0; i < size; i++) {
    state = (state + 0x9e3779b9) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    mask[i] = (z ^ (z >>> 16)) >>> 0 < threshold ? scale : 0
  }
}
