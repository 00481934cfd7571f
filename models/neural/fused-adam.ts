import * as tf from '@tensorflow/tfjs'
import { type StorageBackendName, storageOf } from './tensor-storage.ts'

/** Adam's defaults, as `tf.train.adam` has them (epsilon: tfjs's float32 backend epsilon). */
export const ADAM_DEFAULTS = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const

/**
 * One Adam step (step number `t`, from 1) of the values `x` with gradient `g`: updates the
 * moments `m` and `v` in place and writes the new values into `out` (which may be `x`).
 *
 * @remarks `tf.train.adam`'s formula with {@link ADAM_DEFAULTS}, in double precision,
 * rounded to float32 once per stored value.
 */
export function adamUpdate(
  x: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  out: Float32Array,
  lr: number,
  t: number,
): void {
  const { beta1: b1, beta2: b2, epsilon: eps } = ADAM_DEFAULTS
  const correction1 = 1 - b1 ** t
  const correction2 = 1 - b2 ** t
  for (let i = 0; i < out.length; i++) {
    const gi = g[i]
    const mi = b1 * m[i] + (1 - b1) * gi
    const vi = b2 * v[i] + (1 - b2) * gi * gi
    m[i] = mi
    v[i] = vi
    out[i] = x[i] - (lr * (mi / correction1)) / (Math.sqrt(vi / correction2) + eps)
  }
}

/** A named tensor, as tfjs's optimizers take and return them. */
interface NamedTensor {
  name: string
  tensor: tf.Tensor
}

/** Per-variable moment estimates, kept as plain arrays beside the variable. */
interface Moments {
  readonly m: Float32Array
  readonly v: Float32Array
}

/**
 * Adam that updates each variable in one pass over its values in JS, reading the
 * gradient and the variable where the `wasm` or `cpu` backend stores them, instead of
 * tfjs's ~14 tensor ops per variable per step.
 *
 * @remarks The same update as `tf.train.adam(lr)`: `m = b1 m + (1 - b1) g`,
 * `v = b2 v + (1 - b2) g^2`, `x -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`,
 * evaluated in double precision and rounded to float32 once per stored value (tfjs
 * rounds after every op, so the last bits differ). Profiled on the MLP (145 -> 128 x2
 * -> 6, batch 256, wasm): tfjs's Adam was ~150 of the step's ~200 kernel calls, and
 * per-call engine overhead, not arithmetic, was most of the step. Each update writes a
 * new tensor and `assign`s it, so tensors that share the old values (weight snapshots
 * from `getWeights`) keep them. Moments live outside tfjs: nothing to dispose but the
 * optimizer, and `getWeights` of the optimizer is not supported (the trainer never
 * saves optimizer state).
 */
export class FusedAdam extends tf.Optimizer {
  /** Registered with tfjs's serialization under this name. */
  static className = 'Cis490FusedAdam'
  private readonly lr: number
  private readonly backendName: StorageBackendName
  private readonly moments = new Map<string, Moments>()
  private step = 0

  /** `backendName`: the backend the variables live on (must be the active one when stepping). */
  constructor(learningRate: number, backendName: StorageBackendName) {
    super()
    this.lr = learningRate
    this.backendName = backendName
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list = Array.isArray(variableGradients)
      ? variableGradients
      : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name] }))
    if (tf.getBackend() !== this.backendName)
      throw new Error(`FusedAdam was made for the ${this.backendName} backend, but ${tf.getBackend()} is active`)
    this.step++
    const storage = storageOf(this.backendName, tf.backend())
    for (const { name, tensor: grad } of list) {
      if (grad == null) continue
      const variable = tf.engine().registeredVariables[name]
      if (!variable) throw new Error(`FusedAdam: no variable named ${name}`)
      if (!variable.trainable) continue
      let moments = this.moments.get(name)
      if (!moments) {
        moments = { m: new Float32Array(variable.size), v: new Float32Array(variable.size) }
        this.moments.set(name, moments)
      }
      const out = storage.output(variable.shape)
      const x = storage.input(variable) ?? Float32Array.from(variable.dataSync())
      const g = storage.input(grad) ?? Float32Array.from(grad.dataSync())
      adamUpdate(x, g, moments.m, moments.v, out.values, this.lr, this.step)
      const updated = tf.engine().makeTensorFromTensorInfo(out.info)
      variable.assign(updated)
      updated.dispose()
    }
    this.incrementIterations()
  }

  override dispose(): void {
    this.moments.clear()
  }

  override async getWeights(): Promise<NamedTensor[]> {
    throw new Error('FusedAdam does not export its state')
  }

  override async setWeights(): Promise<void> {
    throw new Error('FusedAdam does not import state')
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.lr, ...ADAM_DEFAULTS }
  }
}
