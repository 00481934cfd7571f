import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import { isOpenBlas, loadOpenBlas } from '../knn/index.ts'
import { type BlasBackendName, blasMatMulOf, registerBlasMatMul } from './blas-matmul.ts'
import { registerFastConv1dFilterGradient } from './conv1d-grad.ts'
import { registerFastTileGradient } from './tile-grad.ts'
import { registerWasmConv2dFilterGrad } from './wasm-conv-grad.ts'
import { registerWasmFastTransposedMatMul } from './wasm-matmul.ts'
import { registerWasmFastTile } from './wasm-tile.ts'

/** The tfjs backends the trainer can run on. */
export const NEURAL_BACKENDS = ['wasm', 'cpu', 'tensorflow'] as const
export type NeuralBackendName = (typeof NEURAL_BACKENDS)[number]

/** Native TensorFlow bindings, most preferred first; neither is a dependency of this package. */
export const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const

/** What this host could run tfjs models on, found without loading any native code. */
export interface NeuralBackendProbe {
  /** Backends that can be selected here, most preferred first. */
  readonly available: readonly NeuralBackendName[]
  /** The native binding `tensorflow` would load, or null when none is installed. */
  readonly tensorflowPackage: (typeof TENSORFLOW_PACKAGES)[number] | null
  /** `@tensorflow/tfjs-node-gpu` is installed and an NVIDIA driver is loaded. */
  readonly cuda: boolean
}

/** The backend a training run actually uses. */
export interface NeuralBackend {
  readonly name: NeuralBackendName
  /** The npm package that provides it. */
  readonly package: string
  /** Whether tensor ops run on a CUDA device. */
  readonly cuda: boolean
  /**
   * The OpenBLAS the matrix products run on (`OpenBLAS 0.3.21 SkylakeX, 2 threads`), or
   * null when they are the backend's own kernels.
   */
  readonly blas: string | null
  /** Whether training steps use `FusedAdam` (wasm and cpu) rather than `tf.train.adam`. */
  readonly fusedAdam: boolean
}

/**
 * Set to `0` to train with tfjs's own matMul kernels and `tf.train.adam` on the wasm and
 * cpu backends, as before OpenBLAS kernels, the fused Adam and the fast trainers existed
 * (for comparisons). Read when a backend is selected; kernels already replaced in this
 * process stay replaced, so compare in separate processes.
 */
export const NEURAL_FAST_ENV = 'CIS490_NEURAL_FAST'

/** OpenBLAS's idle-thread spin time, as a power of two of CPU cycles (default 28). */
const OPENBLAS_THREAD_TIMEOUT_ENV = 'OPENBLAS_THREAD_TIMEOUT'

function fastPathsOn(): boolean {
  return process.env[NEURAL_FAST_ENV] !== '0'
}

/**
 * Puts the backend's matrix products on OpenBLAS when it loads (see `registerBlasMatMul`),
 * returning its description, or null when it does not load or {@link NEURAL_FAST_ENV} is `0`.
 */
function useBlas(backendName: BlasBackendName): string | null {
  let blas = blasMatMulOf(backendName)
  if (blas === null && fastPathsOn()) {
    // Idle OpenBLAS threads spin for 2^28 cycles (its default) before sleeping: between the
    // trainers' small products, the JS loops then share their core with a spinning thread.
    // 2^4 puts them to sleep at once (LSTM, 2 threads, load ~7: 1270-1600 windows/s
    // against 700-910 by default; the MLP showed no clear difference). Read when OpenBLAS
    // loads: no effect if something in this process (KNN) loaded it first.
    process.env[OPENBLAS_THREAD_TIMEOUT_ENV] ??= '4'
    const loaded = loadOpenBlas()
    if (isOpenBlas(loaded)) {
      registerBlasMatMul(backendName, loaded)
      blas = loaded
    }
  }
  if (blas === null) return null
  const threads = blas.threads()
  return `OpenBLAS ${blas.config.split(' ')[1] ?? ''} ${blas.core}, ${threads} thread${threads === 1 ? '' : 's'}`
}

const require = createRequire(import.meta.url)

function resolvable(pkg: string): boolean {
  try {
    require.resolve(pkg)
    return true
  } catch {
    return false
  }
}

/** Whether the kernel has an NVIDIA driver loaded (the file exists exactly then). */
function nvidiaDriverLoaded(): boolean {
  return existsSync('/proc/driver/nvidia/version')
}

/**
 * Cheap capability probe: which tfjs backends this host can select and whether CUDA
 * would be used, by resolving packages and checking the NVIDIA driver, never loading them.
 *
 * @remarks For capability scoring, which must not pay for starting TensorFlow. A package
 * that resolves may still fail to load (a broken native build); `useNeuralBackend` then
 * falls back to wasm and reports what it really got.
 */
export function probeNeuralBackends(): NeuralBackendProbe {
  const tensorflowPackage = TENSORFLOW_PACKAGES.find(resolvable) ?? null
  const available: NeuralBackendName[] = tensorflowPackage ? ['tensorflow', 'wasm', 'cpu'] : ['wasm', 'cpu']
  return {
    available,
    tensorflowPackage,
    cuda: tensorflowPackage === '@tensorflow/tfjs-node-gpu' && nvidiaDriverLoaded(),
  }
}

let wasmPathsSet = false

async function useWasm(): Promise<NeuralBackend> {
  if (!wasmPathsSet) {
    // The .wasm binaries ship in the package's dist folder: load them from disk, never a CDN.
    const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))
    setWasmPaths(`${dist}/`)
    wasmPathsSet = true
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend failed to initialise')
  registerWasmConv2dFilterGrad()
  registerWasmFastTransposedMatMul()
  registerWasmFastTile()
  return {
    name: 'wasm',
    package: '@tensorflow/tfjs-backend-wasm',
    cuda: false,
    blas: useBlas('wasm'),
    fusedAdam: fastPathsOn(),
  }
}

async function useCpu(): Promise<NeuralBackend> {
  if (!(await tf.setBackend('cpu'))) throw new Error('the tfjs cpu backend failed to initialise')
  return {
    name: 'cpu',
    package: '@tensorflow/tfjs-backend-cpu',
    cuda: false,
    blas: useBlas('cpu'),
    fusedAdam: fastPathsOn(),
  }
}

/** Loads a native binding and switches to it; null when it is missing or registers elsewhere. */
async function tryTensorflow(pkg: string): Promise<NeuralBackend | null> {
  try {
    // A variable specifier: these packages are optional and absent from node_modules here.
    const specifier: string = pkg
    await import(specifier)
  } catch {
    return null
  }
  // A binding built against another tfjs-core registers in that copy's engine, not ours.
  if (tf.findBackendFactory('tensorflow') === null || !(await tf.setBackend('tensorflow'))) return null
  const backend = tf.backend() as unknown as { isUsingGpuDevice?: boolean }
  return { name: 'tensorflow', package: pkg, cuda: backend.isUsingGpuDevice === true, blas: null, fusedAdam: false }
}

/**
 * Selects and initialises the tfjs backend for a run: `requested` (`wasm`, `cpu` or
 * `tensorflow`) when given, otherwise the first that works of tfjs-node-gpu, tfjs-node
 * and wasm.
 *
 * @remarks tfjs keeps one global backend per process, so concurrent runs in one process
 * share it. Production mode is enabled (no per-op debug checks, no console advice), and
 * kernels tfjs lacks or does slowly are patched in (`registerFastTileGradient`, `registerFastConv1dFilterGradient`,
 * `registerWasmConv2dFilterGrad`, `registerWasmFastTransposedMatMul`,
 * `registerWasmFastTile`).
 */
export async function useNeuralBackend(requested?: string): Promise<NeuralBackend> {
  tf.enableProdMode()
  registerFastTileGradient()
  registerFastConv1dFilterGradient()
  if (requested !== undefined && !(NEURAL_BACKENDS as readonly string[]).includes(requested))
    throw new Error(`unknown tfjs backend '${requested}': use one of ${NEURAL_BACKENDS.join(', ')}`)
  if (requested === 'wasm') return useWasm()
  if (requested === 'cpu') return useCpu()
  for (const pkg of TENSORFLOW_PACKAGES) {
    const got = await tryTensorflow(pkg)
    if (got) return got
  }
  if (requested === 'tensorflow')
    throw new Error(
      `backend 'tensorflow' needs ${TENSORFLOW_PACKAGES.join(' or ')} installed next to this package (same @tensorflow/tfjs-core version): install one, or use --backend wasm`,
    )
  return useWasm()
}
