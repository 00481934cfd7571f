import * as tf from '@tensorflow/tfjs'

/** What tfjs passes a kernel function; only the parts this kernel touches. */
interface KernelArgs {
  inputs: { x: tf.TensorInfo; dy: tf.TensorInfo }
  backend: unknown
  attrs: {
    strides: [number, number] | number
    pad: 'valid' | 'same' | number | unknown[]
    dataFormat?: 'NHWC' | 'NCHW'
    dimRoundingMode?: string
    filterShape: [number, number, number, number]
  }
}

/**
 * Registers `Conv2DBackpropFilter` (the filter gradient of conv1d/conv2d) for the wasm
 * backend, which ships the forward convolution and the 3-D filter gradient but not this
 * one: an NHWC 2-D problem is the 3-D one with a depth of 1, so the kernel hands the same
 * buffers, viewed as 5-D, to wasm's `Conv3DBackpropFilterV2`.
 *
 * @remarks Without it a Conv1D model cannot train on wasm at all. Idempotent; a no-op
 * when the kernel exists (a later tfjs may add it).
 */
export function registerWasmConv2dFilterGrad(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return
  const conv3d = tf.getKernel('Conv3DBackpropFilterV2', 'wasm')
  if (!conv3d) throw new Error('the tfjs wasm backend has no Conv3DBackpropFilterV2 kernel to build Conv1D training on')
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ((args: KernelArgs): tf.TensorInfo => {
      const { x, dy } = args.inputs
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs
      if ((dataFormat ?? 'NHWC') !== 'NHWC' || dimRoundingMode !== undefined || (pad !== 'same' && pad !== 'valid'))
        throw new Error(
          `wasm Conv2DBackpropFilter supports NHWC with 'same' or 'valid' padding only (got ${dataFormat}, ${JSON.stringify(pad)})`,
        )
      const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides
      const view = (t: tf.TensorInfo): tf.TensorInfo => ({
        dataId: t.dataId,
        dtype: t.dtype,
        shape: [t.shape[0], 1, ...t.shape.slice(1)],
      })
      const dw = (conv3d.kernelFunc as unknown as (a: object) => tf.TensorInfo)({
        inputs: { x: view(x), dy: view(dy) },
        backend: args.backend,
        attrs: { strides: [1, sh, sw], pad, filterShape: [1, ...filterShape] },
      })
      // Same buffer, one fewer (unit) axis: the output is ours alone, so no refcount change.
      return { dataId: dw.dataId, dtype: dw.dtype, shape: filterShape }
    }) as unknown as tf.KernelFunc,
  })
}
