import * as tf from '@tensorflow/tfjs'

/** The backends whose float32 tensor storage can be read and written in place from JS. */
export type StorageBackendName = 'wasm' | 'cpu'

/** Whether `name` is a backend {@link storageOf} can serve. */
export function isStorageBackend(name: string): name is StorageBackendName {
  return name === 'wasm' || name === 'cpu'
}

/** What the wasm backend keeps per tensor (tfjs-backend-wasm 4.22), the part used here. */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array }
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined }
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo
}

/** What the cpu backend keeps per tensor (tfjs-backend-cpu 4.22), the part used here. */
interface CpuBackend {
  data: { get(dataId: object): { values?: unknown } | undefined }
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo
}

/**
 * Float32 views of a backend's tensor storage: `output` allocates a tensor and returns
 * it with a writable view; `input` returns a view of an existing tensor's values, or
 * null when they are not plain float32 values (then the tfjs kernel runs instead).
 */
export interface FloatStorage {
  output(shape: number[]): { info: tf.TensorInfo; values: Float32Array }
  input(t: tf.TensorInfo): Float32Array | null
}

/**
 * The float32 storage of the `name` backend instance `backend` (what a kernel function
 * receives as `args.backend`, or `tf.backend()`).
 *
 * @remarks Reaches into tfjs 4.22's backend internals (the wasm backend's `dataIdMap` and
 * heap, the cpu backend's `data` store): the tests check these views against tfjs's
 * own reads, so an upgrade that moves them fails there first. On wasm, any allocation
 * can grow the heap and detach views taken before it: allocate outputs first.
 */
export function storageOf(name: StorageBackendName, backend: unknown): FloatStorage {
  if (name === 'wasm') {
    const b = backend as WasmBackend
    const view = (t: tf.TensorInfo): Float32Array => {
      const entry = b.dataIdMap.get(t.dataId)
      if (!entry) throw new Error('wasm tensor without heap memory')
      return new Float32Array(b.wasm.HEAPU8.buffer, entry.memoryOffset, tf.util.sizeFromShape(t.shape))
    }
    return {
      output: (shape) => {
        const info = b.makeOutput(shape, 'float32')
        return { info, values: view(info) }
      },
      input: (t) => (t.dtype === 'float32' ? view(t) : null),
    }
  }
  const b = backend as CpuBackend
  return {
    output: (shape) => {
      const values = new Float32Array(tf.util.sizeFromShape(shape))
      return { info: b.makeTensorInfo(shape, 'float32', values), values }
    },
    input: (t) => {
      const v = b.data.get(t.dataId)?.values
      return t.dtype === 'float32' && v instanceof Float32Array ? v : null
    },
  }
}
