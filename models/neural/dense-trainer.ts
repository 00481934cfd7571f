import * as tf from '@tensorflow/tfjs'
import type { OpenBlas } from '../knn/index.ts'
import { adamUpdate } from './fused-adam.ts'
import { softmaxCrossEntropy } from './step-math.ts'

/**
 * Below this `m * n * k`, a step's products run on one OpenBLAS thread whatever the
 * thread count (so results do not depend on it).
 *
 * @remarks Measured on the default MLP (largest product 256 x 145 x 128 = 4.8M), 2
 * cores, load 5-6 (bench/neural-throughput.ts): 92k windows/s with 1 thread against 61k
 * with 2; the products take ~0.1 ms, less than waking and joining a second thread costs.
 */
export const SINGLE_THREAD_WORK = 2 ** 24

/** One dense layer of the stack, its weights as plain arrays (row-major, as tfjs stores them). */
interface DenseLayer {
  readonly name: string
  readonly inDim: number
  readonly outDim: number
  /** `[inDim, outDim]`. */
  readonly kernel: Float32Array
  readonly bias: Float32Array
  /** relu for hidden layers, softmax for the output layer. */
  readonly activation: 'relu' | 'softmax'
  /** Rate of the Dropout layer after it, 0 for none. */
  readonly dropout: number
  readonly gradKernel: Float32Array
  readonly gradBias: Float32Array
  readonly moments: { mk: Float32Array; vk: Float32Array; mb: Float32Array; vb: Float32Array }
  /** Output of the layer for the current batch (after activation and dropout), `[maxBatch, outDim]`. */
  readonly out: Float32Array
  /** Gradient of the loss with respect to the layer's pre-activation output. */
  readonly delta: Float32Array
}

interface LayerConfig {
  activation?: string
  useBias?: boolean
  rate?: number
  noiseShape?: unknown
}

/**
 * The layer stack `Input -> (Dense(relu) [-> Dropout])* -> Dense(softmax)` of `model`
 * (what `buildMlp` builds), or null when the model is anything else.
 */
function denseStack(model: tf.LayersModel): { dense: tf.layers.Layer; dropout: number }[] | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1 || model.inputs[0].shape.length !== 2) return null
  const stack: { dense: tf.layers.Layer; dropout: number }[] = []
  for (const layer of model.layers) {
    const kind = layer.getClassName()
    const config = layer.getConfig() as LayerConfig
    if (kind === 'InputLayer') continue
    if (kind === 'Dense') {
      if (config.useBias === false) return null
      stack.push({ dense: layer, dropout: 0 })
    } else if (kind === 'Dropout') {
      const last = stack.at(-1)
      if (last?.dropout !== 0 || config.noiseShape != null) return null
      last.dropout = config.rate ?? 0
    } else return null
  }
  if (stack.length === 0) return null
  for (let i = 0; i < stack.length; i++) {
    const activation = (stack[i].dense.getConfig() as LayerConfig).activation
    if (activation !== (i === stack.length - 1 ? 'softmax' : 'relu')) return null
  }
  if (stack.at(-1)!.dropout !== 0) return null
  // A chain: each layer's only inbound node is the previous layer.
  for (let i = 1; i < stack.length; i++) {
    const inbound = stack[i].dense.inboundNodes[0]?.inboundLayers ?? []
    const previous = stack[i - 1].dense
    const dropoutBetween = inbound.length === 1 && inbound[0].getClassName() === 'Dropout'
    const source = dropoutBetween ? (inbound[0].inboundNodes[0]?.inboundLayers ?? []) : inbound
    if (source.length !== 1 || source[0] !== previous) return null
  }
  return stack
}

/**
 * Trains a dense softmax classifier (the MLP) without tfjs's engine: forward pass,
 * backward pass and Adam on plain `Float32Array`s, the products on OpenBLAS, the rest
 * in single fused loops; the tfjs model only receives the weights (`syncModel`) before
 * it validates, predicts or is saved.
 *
 * @remarks Profiling the MLP's tfjs step (145 -> 128 x2 -> 6, batch 256, wasm) showed
 * ~200 kernel calls per step, each paying tfjs's engine bookkeeping (tape, tidy scopes,
 * allocation, disposal); with the products on OpenBLAS and the fused Adam, per-call
 * overhead, not arithmetic, was still most of the step. The same model, loss and
 * optimizer as the tfjs path: relu hidden layers, inverted dropout (mask from our seeded
 * PRNG: the stream differs from tfjs's, so the weights differ from a tfjs-path run),
 * softmax with Keras's clipped cross-entropy (rows whose probability is clipped get no
 * gradient, as tfjs's clip gradient does), Adam as {@link adamUpdate}. Deterministic for
 * a seed, OpenBLAS build, core type and thread count (products below
 * {@link SINGLE_THREAD_WORK}, the default MLP's, run on one thread whatever the count;
 * tested), and everything else is sequential JS.
 */
export class DenseTrainer {
  private readonly model: tf.LayersModel
  private readonly blas: OpenBlas
  private readonly layers: DenseLayer[]
  private readonly lr: number
  private readonly maxBatch: number
  private readonly probs: Float64Array
  private readonly inputDelta: Float32Array
  private readonly ones: Float32Array
  /** The largest `m * n * k` of a step's products. */
  private readonly largestProduct: number
  private t = 0

  /**
   * A trainer for `model` when it is a dense stack this class can train (see
   * `buildMlp`), else null; reads the model's current weights.
   */
  static forModel(model: tf.LayersModel, blas: OpenBlas, lr: number, maxBatch: number): DenseTrainer | null {
    const stack = denseStack(model)
    return stack ? new DenseTrainer(model, stack, blas, lr, maxBatch) : null
  }

  private constructor(
    model: tf.LayersModel,
    stack: { dense: tf.layers.Layer; dropout: number }[],
    blas: OpenBlas,
    lr: number,
    maxBatch: number,
  ) {
    this.model = model
    this.blas = blas
    this.lr = lr
    this.maxBatch = maxBatch
    this.layers = stack.map(({ dense, dropout }, i) => {
      const [kernel, bias] = dense.getWeights()
      const [inDim, outDim] = kernel.shape
      const size = inDim * outDim
      return {
        name: dense.name,
        inDim,
        outDim,
        kernel: Float32Array.from(kernel.dataSync()),
        bias: Float32Array.from(bias.dataSync()),
        activation: i === stack.length - 1 ? 'softmax' : 'relu',
        dropout,
        gradKernel: new Float32Array(size),
        gradBias: new Float32Array(outDim),
        moments: {
          mk: new Float32Array(size),
          vk: new Float32Array(size),
          mb: new Float32Array(outDim),
          vb: new Float32Array(outDim),
        },
        out: new Float32Array(maxBatch * outDim),
        delta: new Float32Array(maxBatch * outDim),
      }
    })
    this.probs = new Float64Array(maxBatch * this.layers.at(-1)!.outDim)
    this.inputDelta = new Float32Array(maxBatch * Math.max(...this.layers.map((l) => l.inDim)))
    this.ones = new Float32Array(maxBatch).fill(1)
    this.largestProduct = Math.max(...this.layers.map((l) => maxBatch * l.inDim * l.outDim))
  }

  /**
   * One Adam step on the batch `x` (`[n, features]`, row-major) with class indices
   * `labels`; `dropoutSeed(i)` seeds the mask of the i-th Dropout layer. Returns the
   * batch's summed (not averaged) loss.
   */
  step(x: Float32Array, labels: Int32Array, n: number, dropoutSeed: (i: number) => number): number {
    if (n > this.maxBatch || n < 1) throw new RangeError(`batch of ${n} rows: expected 1..${this.maxBatch}`)
    const threads = this.blas.threads()
    const single = threads > 1 && this.largestProduct < SINGLE_THREAD_WORK
    if (single) this.blas.setThreads(1)
    let loss: number
    try {
      loss = this.forward(x, labels, n, dropoutSeed)
      this.backward(x, n)
    } finally {
      if (single) this.blas.setThreads(threads)
    }
    this.t++
    for (const l of this.layers) {
      adamUpdate(l.kernel, l.gradKernel, l.moments.mk, l.moments.vk, l.kernel, this.lr, this.t)
      adamUpdate(l.bias, l.gradBias, l.moments.mb, l.moments.vb, l.bias, this.lr, this.t)
    }
    return loss
  }

  /** Copies the trained weights into the tfjs model (for validation, prediction, saving). */
  syncModel(): void {
    const tensors = this.layers.flatMap((l) => [tf.tensor2d(l.kernel, [l.inDim, l.outDim]), tf.tensor1d(l.bias)])
    try {
      const byName = new Map(this.model.layers.map((layer) => [layer.name, layer]))
      this.layers.forEach((l, i) => {
        byName.get(l.name)!.setWeights([tensors[2 * i], tensors[2 * i + 1]])
      })
    } finally {
      tf.dispose(tensors)
    }
  }

  private forward(x: Float32Array, labels: Int32Array, n: number, dropoutSeed: (i: number) => number): number {
    let input = x
    let dropoutIndex = 0
    for (const l of this.layers) {
      const out = l.out
      const { inDim, outDim, bias } = l
      for (let r = 0; r < n; r++) out.set(bias, r * outDim)
      this.blas.gemm(false, false, n, outDim, inDim, 1, input, inDim, l.kernel, outDim, 1, out, outDim)
      if (l.activation === 'relu') {
        const size = n * outDim
        if (l.dropout > 0) {
          const threshold = (1 - l.dropout) * 2 ** 32
          const scale = 1 / (1 - l.dropout)
          // SeededRandom(seed).nextUint32(), inlined: one draw per unit, kept below the threshold.
          let state = dropoutSeed(dropoutIndex++) >>> 0
          for (let i = 0; i < size; i++) {
            state = (state + 0x9e3779b9) >>> 0
            let z = state
            z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
            z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
            const draw = (z ^ (z >>> 16)) >>> 0
            const v = out[i]
            out[i] = draw < threshold && v > 0 ? v * scale : 0
          }
        } else {
          for (let i = 0; i < size; i++) if (!(out[i] > 0)) out[i] = 0
        }
      }
      input = out
    }
    const last = this.layers.at(-1)!
    return softmaxCrossEntropy(last.out, labels, n, last.outDim, this.probs, last.delta)
  }

  private backward(x: Float32Array, n: number): void {
    for (let li = this.layers.length - 1; li >= 0; li--) {
      const l = this.layers[li]
      const { inDim, outDim, delta } = l
      const input = li === 0 ? x : this.layers[li - 1].out
      // dW = input^T delta, db = column sums of delta.
      this.blas.gemm(true, false, inDim, outDim, n, 1, input, inDim, delta, outDim, 0, l.gradKernel, outDim)
      // db = ones^T delta: column sums as a product, which OpenBLAS vectorises.
      this.blas.gemm(false, false, 1, outDim, n, 1, this.ones, n, delta, outDim, 0, l.gradBias, outDim)
      if (li === 0) break
      // The previous layer's delta: (delta W^T), through its dropout and relu. Its output is
      // positive exactly where the unit was active and kept, and equals relu(z) / keep there.
      const below = this.layers[li - 1]
      const dIn = this.inputDelta
      this.blas.gemm(false, true, n, inDim, outDim, 1, delta, outDim, l.kernel, outDim, 0, dIn, inDim)
      const scale = 1 / (1 - below.dropout)
      const bOut = below.out
      const bDelta = below.delta
      for (let i = 0, size = n * inDim; i < size; i++) bDelta[i] = bOut[i] > 0 ? dIn[i] * scale : 0
    }
  }
}
