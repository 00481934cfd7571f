import * as tf from '@tensorflow/tfjs'

interface MatMulArgs {
  inputs: { a: tf.TensorInfo; b: tf.TensorInfo }
  backend: { disposeData(dataId: object): void }
  attrs: { transposeA: boolean; transposeB: boolean }
}

type RawKernel = (args: object) => tf.TensorInfo

let patched = false

/**
 * Makes the wasm backend's `BatchMatMul` transpose its operands with the (fast)
 * Transpose kernel before multiplying, instead of passing `transposeA`/`transposeB` on.
 *
 * @remarks tfjs-backend-wasm 4.22 sends transposed products to a naive loop: a
 * 256x145 by 256x128 product takes 6.8 ms with `transposeA` and 1.2 ms as an explicit
 * transpose plus the XNNPACK product. Every dense layer's backward pass needs two such
 * products (`dW = X^T dY`, `dX = dY W^T`), so without this the MLP trains ~3x slower.
 * The result is the same product (summation order may differ in the last bits).
 * Idempotent; call after the wasm backend is initialised.
 */
export function registerWasmFastTransposedMatMul(): void {
  if (patched) return
  const original = tf.getKernel('BatchMatMul', 'wasm')
  const transpose = tf.getKernel('Transpose', 'wasm')
  if (!original || !transpose) throw new Error('the tfjs wasm backend has no BatchMatMul or Transpose kernel to patch')
  const multiply = original.kernelFunc as unknown as RawKernel
  const transposeFunc = transpose.kernelFunc as unknown as RawKernel
  tf.unregisterKernel('BatchMatMul', 'wasm')
  tf.registerKernel({
    ...original,
    kernelFunc: ((args: MatMulArgs): tf.TensorInfo => {
      const { transposeA, transposeB } = args.attrs
      if (!transposeA && !transposeB) return multiply(args)
      const temporaries: tf.TensorInfo[] = []
      const swapLastTwo = (t: tf.TensorInfo): tf.TensorInfo => {
        const r = t.shape.length
        const perm = [...Array(r - 2).keys(), r - 1, r - 2]
        const out = transposeFunc({ inputs: { x: t }, backend: args.backend, attrs: { perm } })
        temporaries.push(out)
        return out
      }
      try {
        const a = transposeA ? swapLastTwo(args.inputs.a) : args.inputs.a
        const b = transposeB ? swapLastTwo(args.inputs.b) : args.inputs.b
        return multiply({ ...args, inputs: { a, b }, attrs: { ...args.attrs, transposeA: false, transposeB: false } })
      } finally {
        for (const t of temporaries) args.backend.disposeData(t.dataId)
      }
    }) as unknown as tf.KernelFunc,
  })
  patched = true
}
