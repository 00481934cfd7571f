import * as tf from '@tensorflow/tfjs'

type Values = Float32Array | Int32Array | Uint8Array

interface WasmBackend {
  readSync(dataId: object): Values | Uint8Array[]
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo
  typedArrayFromHeap(t: tf.TensorInfo): Values
}

interface TileArgs {
  inputs: { x: tf.TensorInfo }
  backend: WasmBackend
  attrs: { reps: number[] }
}

/**
 * `x` (row-major, `shape`) tiled `reps` times per axis, axis by axis from the last, each
 * axis by block copies (`set`, `copyWithin`, `fill`) instead of per-element index math.
 */
export function tileValues(x: Values, shape: readonly number[], reps: readonly number[]): Values {
  let cur = x
  const dims = [...shape]
  for (let a = dims.length - 1; a >= 0; a--) {
    const r = reps[a]
    if (r === 1) continue
    let outer = 1
    for (let i = 0; i < a; i++) outer *= dims[i]
    const block = cur.length / Math.max(outer, 1)
    const span = block * r
    const next = new (cur.constructor as { new (n: number): Values })(outer * span)
    for (let o = 0; o < outer; o++) {
      const src = o * block
      const dst = o * span
      if (block === 1) {
        next.fill(cur[src], dst, dst + span)
        continue
      }
      next.set(cur.subarray(src, src + block), dst)
      for (let filled = block; filled < span; ) {
        const n = Math.min(filled, span - filled)
        next.copyWithin(dst + filled, dst, dst + n)
        filled += n
      }
    }
    dims[a] *= r
    cur = next
  }
  return cur
}

let patched = false

/**
 * Replaces the wasm backend's `Tile` kernel with block copies in JS for numeric dtypes.
 *
 * @remarks tfjs-backend-wasm 4.22's Tile does per-element index arithmetic: tiling a
 * [256, 8, 1] tensor to [256, 8, 128] takes 15 ms, and tfjs's LayerNormalization tiles
 * its mean, variance, gamma and beta on every call, which made Tile half of the
 * transformer's training time. Same values, bit for bit (it only copies). Strings keep
 * the original kernel. Idempotent; call after the wasm backend is initialised.
 */
export function registerWasmFastTile(): void {
  if (patched) return
  const original = tf.getKernel('Tile', 'wasm')
  if (!original) throw new Error('the tfjs wasm backend has no Tile kernel to patch')
  const originalFunc = original.kernelFunc as unknown as (args: TileArgs) => tf.TensorInfo
  tf.unregisterKernel('Tile', 'wasm')
  tf.registerKernel({
    ...original,
    kernelFunc: ((args: TileArgs): tf.TensorInfo => {
      const { x } = args.inputs
      if (x.dtype === 'string' || x.dtype === 'complex64') return originalFunc(args)
      const { reps } = args.attrs
      const values = tileValues(args.backend.readSync(x.dataId) as Values, x.shape, reps)
      const out = args.backend.makeOutput(
        x.shape.map((d, i) => d * reps[i]),
        x.dtype,
      )
      // Read the heap view only after makeOutput: allocating may grow (and move) the heap.
      args.backend.typedArrayFromHeap(out).set(values)
      return out
    }) as unknown as tf.KernelFunc,
  })
  patched = true
}
