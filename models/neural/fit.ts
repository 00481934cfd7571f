import * as tf from '@tensorflow/tfjs'
import { macroF1 } from '../metrics.ts'
import type { BatchGatherer } from './batches.ts'
import { FusedAdam } from './fused-adam.ts'
import { predictClasses, yieldToEventLoop } from './predict.ts'
import { deriveSeed, SeededRandom } from './prng.ts'
import type { StorageBackendName } from './tensor-storage.ts'

/** The training hypers every neural model shares. */
export interface FitHyper {
  readonly epochs: number
  readonly batch_size: number
  readonly lr: number
  readonly patience: number
  readonly seed: number
}

/**
 * A training step outside tfjs's engine (`DenseTrainer`, `LstmTrainer`): owns copies of
 * the model's weights, steps on a gathered batch, and writes the weights back.
 */
export interface FastTrainer {
  /** One optimiser step on `n` rows; `dropoutSeed(i)` seeds the i-th Dropout layer. Returns the summed loss. */
  step(x: Float32Array, labels: Int32Array, n: number, dropoutSeed: (i: number) => number): number
  /** Copies the trained weights into the tfjs model. */
  syncModel(): void
}

/** What {@link fitModel} works on. */
export interface FitInput {
  readonly model: tf.LayersModel
  /** Cuts training batches (maxBatch >= batch_size). */
  readonly trainGatherer: BatchGatherer
  /** Cuts inference batches for validation. */
  readonly predictGatherer: BatchGatherer
  readonly trainRows: Int32Array
  readonly valRows: Int32Array
  /** Class index of each val row, in `valRows` order. */
  readonly valLabels: Int32Array
  readonly classes: number
  readonly hyper: FitHyper
  /**
   * Step with {@link FusedAdam} on this backend (`wasm` or `cpu`) instead of
   * `tf.train.adam`; null for tfjs's Adam.
   */
  readonly fusedAdam: StorageBackendName | null
  /**
   * Train with this instead of tfjs's engine (the MLP and LSTM on OpenBLAS); it syncs
   * the weights into `model` after every epoch. Null or absent: tfjs steps.
   */
  readonly fastTrainer?: FastTrainer | null
  readonly progress: (line: string) => void
  readonly signal: AbortSignal
}

/** How training went. */
export interface FitResult {
  /** 1-based epoch whose weights the model holds, 0 when no epoch ran (no train rows). */
  readonly bestEpoch: number
  readonly epochsRun: number
  /** Val macro F1 of the restored weights. */
  readonly bestValMacroF1: number
  /** Mean training loss per epoch. */
  readonly losses: number[]
  /** Seconds spent in training steps (validation excluded). */
  readonly trainSeconds: number
  /** CPU seconds (user + system, all threads) of the process during the training steps. */
  readonly trainCpuSeconds: number
  /** Training windows per second over all epochs. */
  readonly windowsPerSecond: number
}

/** Longest a run of fast-trainer steps holds the event loop before yielding. */
const YIELD_EVERY_MS = 10

/** Keras's clipping of probabilities before the log. */
const EPSILON = 1e-7

/**
 * Trains `model` with Adam(`lr`) on the sparse categorical cross-entropy of its softmax
 * output, for up to `epochs` epochs of seeded-shuffled `batch_size` batches, stopping
 * after `patience` epochs without a better val macro F1 and restoring the best weights.
 *
 * @remarks Reproducible on one backend: the shuffle comes from our PRNG, and every
 * Dropout layer gets a fresh seed per step derived from (seed, step, layer) — tfjs
 * would otherwise reuse one fixed seed (the same mask every step) or `Math.random`.
 * The seeds are cleared afterwards so the saved config holds none. Checks `signal` and
 * yields to the event loop between batches. Tensors are disposed as it goes: the
 * number of live tensors is the same after every epoch.
 */
export async function fitModel(input: FitInput): Promise<FitResult> {
  const { model, trainGatherer, trainRows, hyper, signal } = input
  const fast = input.fastTrainer ?? null
  const optimizer = input.fusedAdam ? new FusedAdam(hyper.lr, input.fusedAdam) : tf.train.adam(hyper.lr)
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable)
  const dropouts = model.layers.filter((l) => l.getClassName() === 'Dropout') as unknown as { seed?: number }[]
  const shape = trainGatherer.inputShape
  const order = Int32Array.from(trainRows)
  const rng = new SeededRandom(deriveSeed(hyper.seed, 'shuffle'))
  const losses: number[] = []
  let best: tf.Tensor[] | null = null
  let bestEpoch = 0
  let bestF1 = -1
  let step = 0
  let trainMs = 0
  let trainCpuUs = 0
  let epochsRun = 0
  const started = performance.now()
  try {
    for (let epoch = 1; epoch <= hyper.epochs && order.length > 0; epoch++) {
      epochsRun = epoch
      rng.shuffle(order)
      const epochStart = performance.now()
      const epochCpu = process.cpuUsage()
      let lossSum = tf.scalar(0)
      let fastLoss = 0
      let lastYield = performance.now()
      let loss: number
      try {
        for (let start = 0; start < order.length; start += hyper.batch_size) {
          signal.throwIfAborted()
          const end = Math.min(order.length, start + hyper.batch_size)
          if (fast) {
            const n = end - start
            const batchStep = step
            fastLoss += fast.step(
              trainGatherer.gather(order, start, end),
              trainGatherer.labels(order, start, end),
              n,
              (i) => deriveSeed(hyper.seed, 'dropout', batchStep, i),
            )
            step++
            // Fast steps take ~1 ms: yield every few ms rather than every step.
            if (performance.now() - lastYield >= YIELD_EVERY_MS) {
              await yieldToEventLoop()
              lastYield = performance.now()
            }
            continue
          }
          for (let i = 0; i < dropouts.length; i++) dropouts[i].seed = deriveSeed(hyper.seed, 'dropout', step, i)
          const next: tf.Scalar = tf.tidy(() => {
            const x = tf.tensor(trainGatherer.gather(order, start, end), [end - start, ...shape])
            const y = tf.oneHot(tf.tensor1d(trainGatherer.labels(order, start, end), 'int32'), input.classes)
            const cost = optimizer.minimize(
              () => crossEntropy(model.apply(x, { training: true }) as tf.Tensor, y),
              true,
              variables,
            )!
            return tf.add(lossSum, tf.mul(cost, end - start))
          })
          lossSum.dispose()
          lossSum = next
          step++
          await yieldToEventLoop()
        }
        loss = (fast ? fastLoss : (await lossSum.data())[0]) / order.length
      } finally {
        lossSum.dispose()
      }
      fast?.syncModel()
      losses.push(loss)
      const epochMs = performance.now() - epochStart
      const cpu = process.cpuUsage(epochCpu)
      trainMs += epochMs
      trainCpuUs += cpu.user + cpu.system
      const valPred = await predictClasses(model, input.predictGatherer, input.valRows, signal)
      const f1 = macroF1(input.valLabels, valPred, input.classes)
      if (f1 > bestF1) {
        bestF1 = f1
        bestEpoch = epoch
        if (best) tf.dispose(best)
        best = model.getWeights().map((w) => w.clone())
      }
      const elapsed = (performance.now() - started) / 1000
      const eta = (elapsed / epoch) * (hyper.epochs - epoch)
      input.progress(
        `epoch ${epoch}/${hyper.epochs} loss ${loss.toFixed(4)} val_macro_f1 ${f1.toFixed(4)} ` +
          `(best ${bestF1.toFixed(4)} @${bestEpoch}) ${Math.round(order.length / (epochMs / 1000))} windows/s ` +
          `eta ${formatSeconds(eta)}`,
      )
      if (epoch - bestEpoch >= hyper.patience) {
        if (epoch < hyper.epochs) input.progress(`early stop: no better val macro F1 for ${hyper.patience} epochs`)
        break
      }
    }
    if (best) model.setWeights(best)
  } finally {
    if (best) tf.dispose(best)
    optimizer.dispose()
    for (const d of dropouts) d.seed = undefined
  }
  return {
    bestEpoch,
    epochsRun,
    bestValMacroF1: Math.max(bestF1, 0),
    losses,
    trainSeconds: trainMs / 1000,
    trainCpuSeconds: trainCpuUs / 1e6,
    windowsPerSecond: trainMs > 0 ? (order.length * epochsRun) / (trainMs / 1000) : 0,
  }
}

/** Mean sparse categorical cross-entropy of softmax outputs against one-hot labels, as Keras clips it. */
function crossEntropy(probs: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
  const picked = tf.sum(tf.mul(probs, oneHot), -1)
  return tf.neg(tf.mean(tf.log(tf.clipByValue(picked, EPSILON, 1 - EPSILON)))) as tf.Scalar
}

/** `1h02m`, `3m20s`, `12s`. */
export function formatSeconds(s: number): string {
  const t = Math.round(s)
  if (t >= 3600) return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`
  if (t >= 60) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`
  return `${t}s`
}
