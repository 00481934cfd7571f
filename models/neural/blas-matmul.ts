import * as tf from '@tensorflow/tfjs'
import type { OpenBlas } from '../knn/index.ts'
import { type StorageBackendName, storageOf } from './tensor-storage.ts'

/** The backends whose matMul kernels can run on OpenBLAS. */
export type BlasBackendName = StorageBackendName

/** The shape of one batched product, or null when these kernels leave it to tfjs. */
export interface MatMulPlan {
  readonly batch: number
  /** Batch stride of `a` / `b` in elements: 0 when that operand is broadcast. */
  readonly strideA: number
  readonly strideB: number
  readonly m: number
  readonly n: number
  readonly k: number
  readonly outShape: number[]
}

/**
 * Smallest per-batch `m * n * k` handed to OpenBLAS. Below it one product is a few
 * microseconds of arithmetic, and a call through koffi per batch (the transformer's
 * attention runs 8x8 products for every sequence and head) costs more than the wasm
 * kernel's single batched call.
 */
export const BLAS_MIN_WORK = 4096

/**
 * How `BatchMatMul(a, b)` maps onto per-batch row-major GEMMs: the batch axes are
 * flattened, and one operand may be broadcast (batch size 1) against the other, as
 * tfjs's own kernels allow. Null for what is left to tfjs: other broadcasts, empty
 * tensors, products below {@link BLAS_MIN_WORK}.
 */
export function planMatMul(
  aShape: readonly number[],
  bShape: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
): MatMulPlan | null {
  const ra = aShape.length
  const rb = bShape.length
  if (ra < 2 || rb < 2) return null
  const m = transposeA ? aShape[ra - 1] : aShape[ra - 2]
  const k = transposeA ? aShape[ra - 2] : aShape[ra - 1]
  const kb = transposeB ? bShape[rb - 1] : bShape[rb - 2]
  const n = transposeB ? bShape[rb - 2] : bShape[rb - 1]
  if (k !== kb || m * n * k < BLAS_MIN_WORK) return null
  const outerA = aShape.slice(0, -2)
  const outerB = bShape.slice(0, -2)
  const batchA = tf.util.sizeFromShape(outerA)
  const batchB = tf.util.sizeFromShape(outerB)
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return null
  let outer: number[]
  try {
    outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB)
  } catch {
    return null
  }
  // e.g. [2, 1] against [1, 2]: a broadcast of both operands, not a flat batch.
  if (tf.util.sizeFromShape(outer) !== Math.max(batchA, batchB)) return null
  const batch = Math.max(batchA, batchB)
  return {
    batch,
    strideA: batchA === 1 ? 0 : m * k,
    strideB: batchB === 1 ? 0 : k * n,
    m,
    n,
    k,
    outShape: [...outer, m, n],
  }
}

/** The post-GEMM step of a fused product these kernels can do; anything else goes to tfjs. */
function fusable(activation: unknown): 'linear' | 'relu' | null {
  if (activation === undefined || activation === null || activation === 'linear') return 'linear'
  return activation === 'relu' ? 'relu' : null
}

/**
 * Runs `plan` on OpenBLAS: `out[i] = op(a[i]) op(b[i]) (+ bias)`, then relu when asked.
 * The bias (length n) is written into every output row first and the GEMM accumulates
 * onto it (beta 1), so bias and product take one pass.
 */
function runGemm(
  blas: OpenBlas,
  plan: MatMulPlan,
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  transposeA: boolean,
  transposeB: boolean,
  bias: Float32Array | null,
  relu: boolean,
): void {
  const { m, n, k } = plan
  const lda = transposeA ? m : k
  const ldb = transposeB ? k : n
  if (bias) for (let r = 0, rows = plan.batch * m; r < rows; r++) out.set(bias, r * n)
  const beta = bias ? 1 : 0
  for (let i = 0; i < plan.batch; i++) {
    const ai = plan.strideA === 0 ? a : a.subarray(i * plan.strideA)
    const bi = plan.strideB === 0 ? b : b.subarray(i * plan.strideB)
    const ci = i === 0 ? out : out.subarray(i * m * n)
    blas.gemm(transposeA, transposeB, m, n, k, 1, ai, lda, bi, ldb, beta, ci, n)
  }
  if (relu) for (let i = 0; i < out.length; i++) if (out[i] < 0) out[i] = 0
}

interface MatMulArgs {
  inputs: { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo }
  backend: unknown
  attrs: { transposeA: boolean; transposeB: boolean; activation?: string; leakyreluAlpha?: number }
}

type KernelFn = (args: MatMulArgs) => tf.TensorInfo

/** Backends these kernels are registered on, with the OpenBLAS they call. */
const registered = new Map<BlasBackendName, OpenBlas>()

/**
 * Replaces `BatchMatMul` and `_FusedMatMul` (dense layers' forward product with bias and
 * relu) of the `wasm` or `cpu` backend with OpenBLAS `sgemm` calls that read the
 * operands where the backend keeps them (the wasm heap, the cpu backend's typed arrays)
 * and write the result into a freshly allocated output, with no copies.
 *
 * @remarks Products these kernels do not cover run the kernel registered before them:
 * non-float32 operands, broadcasts other than one operand with batch size 1, other
 * activations or a prelu, a bias that is not a length-n vector, and products below
 * {@link BLAS_MIN_WORK}. Results are the same products with OpenBLAS's summation order
 * (the last bits differ from tfjs's kernels); for a given OpenBLAS build, core type and
 * thread count they are deterministic. Idempotent per backend; call after the backend
 * is initialised (and after other patches of these kernels, which become the fallback).
 */
export function registerBlasMatMul(backendName: BlasBackendName, blas: OpenBlas): void {
  if (registered.has(backendName)) return
  const batchMatMul = tf.getKernel('BatchMatMul', backendName)
  const fusedMatMul = tf.getKernel('_FusedMatMul', backendName)
  if (!batchMatMul || !fusedMatMul) throw new Error(`the tfjs ${backendName} backend has no matMul kernels to replace`)
  const originalBatch = batchMatMul.kernelFunc as unknown as KernelFn
  const originalFused = fusedMatMul.kernelFunc as unknown as KernelFn

  const kernel =
    (fallback: KernelFn, fused: boolean): KernelFn =>
    (args) => {
      const { a, b, bias, preluActivationWeights } = args.inputs
      const { transposeA, transposeB } = args.attrs
      const activation = fused ? fusable(args.attrs.activation) : 'linear'
      const plan = planMatMul(a.shape, b.shape, transposeA, transposeB)
      if (
        plan === null ||
        activation === null ||
        preluActivationWeights != null ||
        (bias != null && (bias.shape.length !== 1 || bias.shape[0] !== plan.n))
      )
        return fallback(args)
      const storage = storageOf(backendName, args.backend)
      if (storage.input(a) === null || storage.input(b) === null || (bias != null && storage.input(bias) === null))
        return fallback(args)
      // Allocate first, then take the input views: on wasm an allocation may grow the heap
      // and detach views taken before it.
      const out = storage.output(plan.outShape)
      const av = storage.input(a) as Float32Array
      const bv = storage.input(b) as Float32Array
      const biasView = bias != null ? storage.input(bias) : null
      runGemm(blas, plan, av, bv, out.values, transposeA, transposeB, biasView, activation === 'relu')
      return out.info
    }

  tf.unregisterKernel('BatchMatMul', backendName)
  tf.registerKernel({ ...batchMatMul, kernelFunc: kernel(originalBatch, false) as unknown as tf.KernelFunc })
  tf.unregisterKernel('_FusedMatMul', backendName)
  tf.registerKernel({ ...fusedMatMul, kernelFunc: kernel(originalFused, true) as unknown as tf.KernelFunc })
  registered.set(backendName, blas)
}

/** The OpenBLAS the `backendName` backend's matMul kernels call, or null when they are tfjs's own. */
export function blasMatMulOf(backendName: string): OpenBlas | null {
  return registered.get(backendName as BlasBackendName) ?? null
}
