import * as tf from '@tensorflow/tfjs'

/**
 * Replaces tfjs's gradient of `Tile` with one reshape and one sum.
 *
 * @remarks tfjs 4.22 computes it by slicing `dy` once per repetition and adding the
 * slices up; LayerNormalization tiles its mean and variance across the feature axis, so
 * every transformer step ran hundreds of tiny slice kernels (13% of its time on wasm,
 * where Slice runs in JS). The tiled tensor is `reps` blocks of `x` per axis, so
 * `dy` viewed as `[r0, x0, r1, x1, ...]` summed over the `r` axes is the same gradient.
 * Mathematically identical; summation order differs, so float results may differ in the
 * last bits. Idempotent.
 */
export function registerFastTileGradient(): void {
  tf.registerGradient({
    kernelName: 'Tile',
    inputsToSave: ['x'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [x] = saved
      const reps = attrs.reps as number[]
      const grad = dy as tf.Tensor
      return {
        x: () => {
          const blocks: number[] = []
          const repAxes: number[] = []
          x.shape.forEach((dim, i) => {
            if (reps[i] !== 1) repAxes.push(blocks.length)
            if (reps[i] !== 1) blocks.push(reps[i])
            blocks.push(dim)
          })
          if (repAxes.length === 0) return tf.reshape(grad, x.shape)
          return tf.reshape(tf.sum(tf.reshape(grad, blocks), repAxes), x.shape)
        },
      }
    },
  })
}
