import * as tf from '@tensorflow/tfjs'

interface Conv2DAttrs {
  strides: number | number[]
  pad: unknown
  dataFormat?: string
  dilations?: number | number[]
  dimRoundingMode?: string
}

const allOnes = (v: number | number[] | undefined) =>
  v === undefined || (Array.isArray(v) ? v.every((d) => d === 1) : v === 1)

/**
 * The filter gradient of a stride-1, undilated, NHWC convolution over height-1 inputs
 * (what `tf.conv1d` runs): for each kernel tap k, `X_k^T dY` with `X_k` the padded
 * input shifted by k, as K matrix products.
 */
function conv1dFilterGrad(x: tf.Tensor, dy: tf.Tensor, filterShape: number[], pad: 'same' | 'valid'): tf.Tensor {
  const [batch, , width, inChannels] = x.shape as number[]
  const outWidth = dy.shape[2] as number
  const outChannels = dy.shape[3] as number
  const taps = filterShape[1]
  const left = pad === 'same' ? Math.floor((taps - 1) / 2) : 0
  const right = outWidth + taps - 1 - width - left
  const padded = tf.pad(tf.reshape(x, [batch, width, inChannels]), [
    [0, 0],
    [left, right],
    [0, 0],
  ])
  const dy2 = tf.reshape(dy, [batch * outWidth, outChannels]) as tf.Tensor2D
  const perTap = Array.from({ length: taps }, (_, k) =>
    tf.matMul(
      tf.reshape(tf.slice(padded, [0, k, 0], [batch, outWidth, inChannels]), [
        batch * outWidth,
        inChannels,
      ]) as tf.Tensor2D,
      dy2,
      true,
      false,
    ),
  )
  return tf.reshape(tf.stack(perTap), filterShape)
}

let patched = false

/**
 * Computes the filter gradient of 1-D convolutions (Conv2D over height-1 inputs with a
 * height-1 filter, stride 1, no dilation, 'same' or 'valid' padding) as matrix products;
 * every other Conv2D keeps tfjs's gradient.
 *
 * @remarks On wasm the filter gradient otherwise runs a naive loop (72% of the CNN's
 * training time; see also `registerWasmConv2dFilterGrad`). Mathematically identical;
 * summation order differs. Idempotent; not used on the native `tensorflow` backend.
 */
export function registerFastConv1dFilterGradient(): void {
  if (patched) return
  const original = tf.getGradient('Conv2D')
  if (!original) throw new Error('tfjs has no gradient registered for Conv2D')
  tf.registerGradient({
    ...original,
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const grads = original.gradFunc(dy, saved, attrs)
      // Native TensorFlow has a real kernel for this; only the JS and wasm backends gain.
      if (tf.getBackend() === 'tensorflow') return grads
      const [x, filter] = saved
      const a = attrs as unknown as Conv2DAttrs
      const oneD =
        (a.dataFormat ?? 'NHWC') === 'NHWC' &&
        x.rank === 4 &&
        x.shape[1] === 1 &&
        filter.shape[0] === 1 &&
        allOnes(a.strides) &&
        allOnes(a.dilations) &&
        a.dimRoundingMode === undefined &&
        (a.pad === 'same' || a.pad === 'valid')
      if (!oneD) return grads
      return { ...grads, filter: () => conv1dFilterGrad(x, dy as tf.Tensor, filter.shape, a.pad as 'same' | 'valid') }
    },
  })
  patched = true
}
