import * as tf from '@tensorflow/tfjs'
import type { OpenBlas } from '../knn/index.ts'
import { adamUpdate } from './fused-adam.ts'
import { fillDropoutMask, softmaxCrossEntropy } from './step-math.ts'

/** A trainable array with its gradient and Adam moments. */
interface Param {
  readonly values: Float32Array
  readonly grad: Float32Array
  readonly m: Float32Array
  readonly v: Float32Array
}

function param(values: Float32Array): Param {
  const n = values.length
  return { values, grad: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n) }
}

/** One LSTM layer and its per-batch buffers (rows ordered (sample, step), as the input). */
interface LstmLayer {
  readonly name: string
  readonly inDim: number
  readonly units: number
  /** `[inDim, 4 units]`, gates in tfjs's order i, f, c, o. */
  readonly kernel: Param
  /** `[units, 4 units]`. */
  readonly recurrent: Param
  readonly bias: Param
  /** Rate of the Dropout layer after it, 0 for none. */
  readonly dropout: number
  /** Gate activations i, f, g, o per (sample, step): `[n * T, 4 units]`. */
  readonly gates: Float32Array
  /** Cell state and its tanh per (sample, step): `[n * T, units]`. */
  readonly cell: Float32Array
  readonly cellTanh: Float32Array
  /** Outputs h per (sample, step), before dropout. */
  readonly h: Float32Array
  /** Dropout mask of the output: per (sample, step), or per sample for the last layer. */
  readonly mask: Float32Array
  /** What the next layer reads: `h` times the mask (or `h` itself without dropout). */
  readonly out: Float32Array
  /** Gradients: of the pre-activation gates, and of the loss with respect to `h`. */
  readonly dGates: Float32Array
  readonly dH: Float32Array
}

interface RnnConfig {
  activation?: string
  recurrentActivation?: string
  useBias?: boolean
  dropout?: number
  recurrentDropout?: number
  goBackwards?: boolean
  stateful?: boolean
  returnState?: boolean
  returnSequences?: boolean
  rate?: number
  noiseShape?: unknown
}

type Stack = { lstm: tf.layers.Layer[]; dropouts: number[]; head: tf.layers.Layer }

/** `Input -> (LSTM [-> Dropout])* -> Dense(softmax)` as `buildRnn('lstm')` builds it, or null. */
function lstmStack(model: tf.LayersModel): Stack | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1 || model.inputs[0].shape.length !== 3) return null
  const lstm: tf.layers.Layer[] = []
  const dropouts: number[] = []
  let head: tf.layers.Layer | null = null
  for (const layer of model.layers) {
    const kind = layer.getClassName()
    const c = layer.getConfig() as RnnConfig
    if (kind === 'InputLayer') continue
    if (head) return null
    if (kind === 'LSTM') {
      const plain =
        c.activation === 'tanh' &&
        c.recurrentActivation === 'sigmoid' &&
        c.useBias !== false &&
        !c.dropout &&
        !c.recurrentDropout &&
        !c.goBackwards &&
        !c.stateful &&
        !c.returnState
      if (!plain) return null
      lstm.push(layer)
      dropouts.push(0)
    } else if (kind === 'Dropout') {
      if (lstm.length === 0 || dropouts[lstm.length - 1] !== 0 || c.noiseShape != null) return null
      dropouts[lstm.length - 1] = c.rate ?? 0
    } else if (kind === 'Dense' && (c.activation as string) === 'softmax' && c.useBias !== false) head = layer
    else return null
  }
  if (!head || lstm.length === 0) return null
  const sequences = lstm.map((l) => (l.getConfig() as RnnConfig).returnSequences === true)
  if (sequences.some((s, i) => s !== i < lstm.length - 1)) return null
  return { lstm, dropouts, head }
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x))
/** tanh through one `Math.exp` (V8's `Math.tanh` is slower); within 2e-16 of it, exact at +-infinity. */
const tanh = (x: number): number => 2 / (1 + Math.exp(-2 * x)) - 1

/**
 * Trains the stacked LSTM classifier (`buildRnn('lstm')`) without tfjs's engine: the
 * input projections of all steps as one OpenBLAS product per layer, one recurrent
 * product per step, the gates, backpropagation through time and Adam in fused loops on
 * `Float32Array`s; the tfjs model receives the weights (`syncModel`) before it
 * validates, predicts or is saved.
 *
 * @remarks The same model and loss as tfjs's: Keras LSTM cells (gates i, f, c, o; logistic
 * sigmoid gates, tanh), zero initial state, Dropout layers between the layers and on
 * the last state (masks from our seeded PRNG, so the stream differs from tfjs's),
 * clipped softmax cross-entropy, Adam as `adamUpdate`. Deterministic for a seed, an
 * OpenBLAS build, core type and thread count (with some core types, e.g. Haswell, the last
 * bits of a large product depend on the thread count).
 */
export class LstmTrainer {
  private readonly model: tf.LayersModel
  private readonly blas: OpenBlas
  private readonly lr: number
  private readonly maxBatch: number
  private readonly steps: number
  private readonly layers: LstmLayer[]
  private readonly headName: string
  private readonly headKernel: Param
  private readonly headBias: Param
  private readonly classes: number
  private readonly logits: Float32Array
  private readonly probs: Float64Array
  private readonly delta: Float32Array
  /** The last layer's final state after dropout, `[n, units]`, and its gradient. */
  private readonly last: Float32Array
  private readonly dLast: Float32Array
  /** Recurrent gradients carried back one step, `[n, units]`. */
  private readonly dhNext: Float32Array
  private readonly dcNext: Float32Array
  /** Gradient of a lower layer's output, `[n * T, max inDim]`. */
  private readonly dInput: Float32Array
  /** `maxBatch * T` ones, for column sums as products. */
  private readonly ones: Float32Array
  private t = 0

  /** A trainer for `model` when it is the LSTM stack `buildRnn` builds, else null; reads its current weights. */
  static forModel(model: tf.LayersModel, blas: OpenBlas, lr: number, maxBatch: number): LstmTrainer | null {
    const stack = lstmStack(model)
    return stack ? new LstmTrainer(model, stack, blas, lr, maxBatch) : null
  }

  private constructor(model: tf.LayersModel, stack: Stack, blas: OpenBlas, lr: number, maxBatch: number) {
    this.model = model
    this.blas = blas
    this.lr = lr
    this.maxBatch = maxBatch
    this.steps = model.inputs[0].shape[1] as number
    const rows = maxBatch * this.steps
    this.layers = stack.lstm.map((layer, i) => {
      const [kernel, recurrent, bias] = layer.getWeights()
      const [inDim, four] = kernel.shape
      const units = four / 4
      const last = i === stack.lstm.length - 1
      const dropout = stack.dropouts[i]
      const h = new Float32Array(rows * units)
      return {
        name: layer.name,
        inDim,
        units,
        kernel: param(Float32Array.from(kernel.dataSync())),
        recurrent: param(Float32Array.from(recurrent.dataSync())),
        bias: param(Float32Array.from(bias.dataSync())),
        dropout,
        gates: new Float32Array(rows * four),
        cell: new Float32Array(rows * units),
        cellTanh: new Float32Array(rows * units),
        h,
        mask: new Float32Array((last ? maxBatch : rows) * units),
        out: dropout > 0 && !last ? new Float32Array(rows * units) : h,
        dGates: new Float32Array(rows * four),
        dH: new Float32Array(rows * units),
      }
    })
    const [hk, hb] = stack.head.getWeights()
    this.headName = stack.head.name
    this.headKernel = param(Float32Array.from(hk.dataSync()))
    this.headBias = param(Float32Array.from(hb.dataSync()))
    this.classes = hk.shape[1] as number
    const units = this.layers.at(-1)!.units
    this.logits = new Float32Array(maxBatch * this.classes)
    this.probs = new Float64Array(maxBatch * this.classes)
    this.delta = new Float32Array(maxBatch * this.classes)
    this.last = new Float32Array(maxBatch * units)
    this.dLast = new Float32Array(maxBatch * units)
    const maxUnits = Math.max(...this.layers.map((l) => l.units))
    this.dhNext = new Float32Array(maxBatch * maxUnits)
    this.dcNext = new Float32Array(maxBatch * maxUnits)
    this.dInput = new Float32Array(rows * Math.max(...this.layers.map((l) => l.inDim)))
    this.ones = new Float32Array(rows).fill(1)
  }

  /**
   * One Adam step on `x` (`[n, seq_len, features]`, row-major) with class indices
   * `labels`; `dropoutSeed(i)` seeds the i-th Dropout layer's mask. Returns the summed loss.
   */
  step(x: Float32Array, labels: Int32Array, n: number, dropoutSeed: (i: number) => number): number {
    if (n > this.maxBatch || n < 1) throw new RangeError(`batch of ${n} rows: expected 1..${this.maxBatch}`)
    const T = this.steps
    let input = x
    let dropoutIndex = 0
    for (let li = 0; li < this.layers.length; li++) {
      const l = this.layers[li]
      this.forwardLayer(l, input, n)
      const isLast = li === this.layers.length - 1
      const u = l.units
      if (isLast) {
        // The final state, (after dropout) contiguous for the head.
        for (let s = 0; s < n; s++) this.last.set(l.h.subarray((s * T + T - 1) * u, (s * T + T) * u), s * u)
        if (l.dropout > 0) {
          fillDropoutMask(l.mask, n * u, l.dropout, dropoutSeed(dropoutIndex++))
          for (let i = 0; i < n * u; i++) this.last[i] *= l.mask[i]
        }
      } else if (l.dropout > 0) {
        const size = n * T * u
        fillDropoutMask(l.mask, size, l.dropout, dropoutSeed(dropoutIndex++))
        for (let i = 0; i < size; i++) l.out[i] = l.h[i] * l.mask[i]
      }
      input = l.out
    }
    const top = this.layers.at(-1)!
    const u = top.units
    const k = this.classes
    for (let r = 0; r < n; r++) this.logits.set(this.headBias.values, r * k)
    this.blas.gemm(false, false, n, k, u, 1, this.last, u, this.headKernel.values, k, 1, this.logits, k)
    const loss = softmaxCrossEntropy(this.logits, labels, n, k, this.probs, this.delta)

    // Head: gradients, then the final state's gradient into the top layer's dH.
    this.blas.gemm(true, false, u, k, n, 1, this.last, u, this.delta, k, 0, this.headKernel.grad, k)
    this.blas.gemm(false, false, 1, k, n, 1, this.ones, n, this.delta, k, 0, this.headBias.grad, k)
    this.blas.gemm(false, true, n, u, k, 1, this.delta, k, this.headKernel.values, k, 0, this.dLast, u)
    top.dH.fill(0, 0, n * T * u)
    for (let s = 0; s < n; s++) {
      const o = (s * T + T - 1) * u
      for (let j = 0; j < u; j++)
        top.dH[o + j] = top.dropout > 0 ? this.dLast[s * u + j] * top.mask[s * u + j] : this.dLast[s * u + j]
    }
    for (let li = this.layers.length - 1; li >= 0; li--) {
      const l = this.layers[li]
      const layerInput = li === 0 ? x : this.layers[li - 1].out
      this.backwardLayer(l, layerInput, n, li > 0)
      if (li === 0) break
      const below = this.layers[li - 1]
      const size = n * T * below.units
      for (let i = 0; i < size; i++) below.dH[i] = below.dropout > 0 ? this.dInput[i] * below.mask[i] : this.dInput[i]
    }

    this.t++
    for (const p of this.params()) adamUpdate(p.values, p.grad, p.m, p.v, p.values, this.lr, this.t)
    return loss
  }

  /** Copies the trained weights into the tfjs model (for validation, prediction, saving). */
  syncModel(): void {
    const byName = new Map(this.model.layers.map((layer) => [layer.name, layer]))
    const tensors: tf.Tensor[] = []
    try {
      for (const l of this.layers) {
        const four = 4 * l.units
        const w = [
          tf.tensor2d(l.kernel.values, [l.inDim, four]),
          tf.tensor2d(l.recurrent.values, [l.units, four]),
          tf.tensor1d(l.bias.values),
        ]
        tensors.push(...w)
        byName.get(l.name)!.setWeights(w)
      }
      const u = this.layers.at(-1)!.units
      const head = [tf.tensor2d(this.headKernel.values, [u, this.classes]), tf.tensor1d(this.headBias.values)]
      tensors.push(...head)
      byName.get(this.headName)!.setWeights(head)
    } finally {
      tf.dispose(tensors)
    }
  }

  private params(): Param[] {
    return [...this.layers.flatMap((l) => [l.kernel, l.recurrent, l.bias]), this.headKernel, this.headBias]
  }

  private forwardLayer(l: LstmLayer, x: Float32Array, n: number): void {
    const T = this.steps
    const u = l.units
    const four = 4 * u
    const rows = n * T
    const z = l.gates
    for (let r = 0; r < rows; r++) z.set(l.bias.values, r * four)
    // Input projections of every (sample, step) at once.
    this.blas.gemm(false, false, rows, four, l.inDim, 1, x, l.inDim, l.kernel.values, four, 1, z, four)
    for (let t = 0; t < T; t++) {
      // z_t += h_{t-1} U, reading and writing rows (s, t) with a stride of T rows.
      if (t > 0)
        this.blas.gemm(
          false,
          false,
          n,
          four,
          u,
          1,
          l.h.subarray((t - 1) * u),
          T * u,
          l.recurrent.values,
          four,
          1,
          z.subarray(t * four),
          T * four,
        )
      for (let s = 0; s < n; s++) {
        const zo = (s * T + t) * four
        const ho = (s * T + t) * u
        for (let j = 0; j < u; j++) {
          const i = sigmoid(z[zo + j])
          const f = sigmoid(z[zo + u + j])
          const g = tanh(z[zo + 2 * u + j])
          const o = sigmoid(z[zo + 3 * u + j])
          const c = f * (t > 0 ? l.cell[ho - u + j] : 0) + i * g
          const tc = tanh(c)
          z[zo + j] = i
          z[zo + u + j] = f
          z[zo + 2 * u + j] = g
          z[zo + 3 * u + j] = o
          l.cell[ho + j] = c
          l.cellTanh[ho + j] = tc
          l.h[ho + j] = o * tc
        }
      }
    }
  }

  /** Backpropagation through time of one layer from `l.dH`; the input's gradient goes to `dInput`. */
  private backwardLayer(l: LstmLayer, x: Float32Array, n: number, wantInputGrad: boolean): void {
    const T = this.steps
    const u = l.units
    const four = 4 * u
    const rows = n * T
    const z = l.gates
    const dz = l.dGates
    const dhNext = this.dhNext
    const dcNext = this.dcNext
    dhNext.fill(0, 0, n * u)
    dcNext.fill(0, 0, n * u)
    for (let t = T - 1; t >= 0; t--) {
      for (let s = 0; s < n; s++) {
        const zo = (s * T + t) * four
        const ho = (s * T + t) * u
        const so = s * u
        for (let j = 0; j < u; j++) {
          const dh = l.dH[ho + j] + dhNext[so + j]
          const i = z[zo + j]
          const f = z[zo + u + j]
          const g = z[zo + 2 * u + j]
          const o = z[zo + 3 * u + j]
          const tc = l.cellTanh[ho + j]
          const dc = dh * o * (1 - tc * tc) + dcNext[so + j]
          const cPrev = t > 0 ? l.cell[ho - u + j] : 0
          dcNext[so + j] = dc * f
          dz[zo + j] = dc * g * i * (1 - i)
          dz[zo + u + j] = dc * cPrev * f * (1 - f)
          dz[zo + 2 * u + j] = dc * i * (1 - g * g)
          dz[zo + 3 * u + j] = dh * tc * o * (1 - o)
        }
      }
      // dh_{t-1} = dz_t U^T.
      if (t > 0)
        this.blas.gemm(
          false,
          true,
          n,
          u,
          four,
          1,
          dz.subarray(t * four),
          T * four,
          l.recurrent.values,
          four,
          0,
          dhNext,
          u,
        )
    }
    this.blas.gemm(true, false, l.inDim, four, rows, 1, x, l.inDim, dz, four, 0, l.kernel.grad, four)
    // dU = sum over t >= 1 of h_{t-1}^T dz_t.
    if (T === 1) l.recurrent.grad.fill(0)
    for (let t = 1; t < T; t++)
      this.blas.gemm(
        true,
        false,
        u,
        four,
        n,
        1,
        l.h.subarray((t - 1) * u),
        T * u,
        dz.subarray(t * four),
        T * four,
        t === 1 ? 0 : 1,
        l.recurrent.grad,
        four,
      )
    // db = ones^T dz: column sums as a product, which OpenBLAS vectorises.
    this.blas.gemm(false, false, 1, four, rows, 1, this.ones, rows, dz, four, 0, l.bias.grad, four)
    if (wantInputGrad)
      this.blas.gemm(false, true, rows, l.inDim, four, 1, dz, four, l.kernel.values, four, 0, this.dInput, l.inDim)
  }
}
