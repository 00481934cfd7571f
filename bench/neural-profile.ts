/**
 * Where a training step's time goes: times every kernel tfjs dispatches on the chosen
 * backend (wrapping the registered kernel functions), the batch gathering and the rest
 * (engine bookkeeping, tape, gradient functions, allocation), over `steps` steps of the
 * trainer's own loop (fitModel's step: gather, tensor, minimize with Adam).
 *
 *   npx node bench/neural-profile.ts [model=mlp] [steps=300] [backend=wasm] [seq_len=8] [--json]
 *
 * With `--json` the last stdout line is one JSON object of the figures (for bench/run.ts).
 */
import * as tf from '@tensorflow/tfjs'
import { useNeuralBackend } from '../models/neural/backend.ts'
import { BatchGatherer } from '../models/neural/batches.ts'
import { buildNeuralModel, parseNeuralHyper, sequenceLength } from '../models/neural/build-model.ts'
import { FusedAdam } from '../models/neural/fused-adam.ts'
import { isStorageBackend } from '../models/neural/tensor-storage.ts'
import { MlpHyper } from '../models/registry/index.ts'
import { fitScaler, splitRows } from '../models/split.ts'
import { makeBenchDataset } from './neural-data.ts'

const [modelArg, stepsArg, backendArg, seqArg] = process.argv.slice(2).filter((a) => a !== '--json')
const modelName = (modelArg ?? 'mlp') as 'mlp' | 'lstm' | 'gru'
const steps = Number(stepsArg) || 300
const backendName = backendArg ?? 'wasm'
const used = await useNeuralBackend(backendName)
console.log(`backend ${used.name}, matMul on ${used.blas ?? 'tfjs kernels'}`)

const hyper = parseNeuralHyper(modelName, {
  ...MlpHyper.parse({}),
  ...(modelName === 'mlp' ? {} : { seq_len: Number(seqArg) || 8 }),
})
const data = makeBenchDataset({ hosts: 2, episodesPerHost: 200, windows: 40, features: 145, classes: 6 })
const split = splitRows(data, { seed: 0, val_frac: 0.1 })
const scaler = fitScaler(data, split.train)
const gatherer = new BatchGatherer(data, scaler, sequenceLength(hyper), hyper.batch_size)
const model = buildNeuralModel(modelName, { inputShape: gatherer.inputShape, classes: 6 }, hyper)

const times = new Map<string, { ms: number; calls: number }>()
let kernelMs = 0
let depth = 0
for (const k of tf.getKernelsForBackend(backendName)) {
  const f = k.kernelFunc
  tf.unregisterKernel(k.kernelName, backendName)
  tf.registerKernel({
    ...k,
    kernelFunc: ((args: never) => {
      depth++
      const t = performance.now()
      try {
        return (f as (a: never) => unknown)(args)
      } finally {
        depth--
        const dt = performance.now() - t
        if (depth === 0) {
          kernelMs += dt
          const e = times.get(k.kernelName) ?? { ms: 0, calls: 0 }
          e.ms += dt
          e.calls++
          times.set(k.kernelName, e)
        }
      }
    }) as tf.KernelFunc,
  })
}

const optimizer =
  used.fusedAdam && isStorageBackend(used.name) ? new FusedAdam(hyper.lr, used.name) : tf.train.adam(hyper.lr)
console.log(`optimizer ${used.fusedAdam ? 'fused adam' : 'tf.train.adam'}`)
const variables = model.trainableWeights.map((w) => w.read() as tf.Variable)
const order = Int32Array.from(split.train)
let gatherMs = 0
const step = (i: number) => {
  const start = (i * hyper.batch_size) % (order.length - hyper.batch_size)
  const end = start + hyper.batch_size
  const g0 = performance.now()
  const xs = gatherer.gather(order, start, end)
  const ys = gatherer.labels(order, start, end)
  gatherMs += performance.now() - g0
  tf.tidy(() => {
    const x = tf.tensor(xs, [end - start, ...gatherer.inputShape])
    const y = tf.oneHot(tf.tensor1d(ys, 'int32'), 6)
    optimizer.minimize(
      () => {
        const p = model.apply(x, { training: true }) as tf.Tensor
        const picked = tf.sum(tf.mul(p, y), -1)
        return tf.neg(tf.mean(tf.log(tf.clipByValue(picked, 1e-7, 1 - 1e-7)))) as tf.Scalar
      },
      false,
      variables,
    )
  })
}
for (let i = 0; i < 20; i++) step(i)
times.clear()
kernelMs = 0
gatherMs = 0
const t0 = performance.now()
for (let i = 0; i < steps; i++) step(i)
const total = performance.now() - t0
console.log(
  `${modelName} on ${backendName}, batch ${hyper.batch_size}: ${(total / steps).toFixed(3)} ms/step ` +
    `(${Math.round((steps * hyper.batch_size) / (total / 1000))} windows/s)`,
)
console.log(
  `  kernels ${((100 * kernelMs) / total).toFixed(1)}%, gather ${((100 * gatherMs) / total).toFixed(1)}%, ` +
    `engine/tape/JS rest ${((100 * (total - kernelMs - gatherMs)) / total).toFixed(1)}%`,
)
const rows = [...times.entries()].sort((a, b) => b[1].ms - a[1].ms)
for (const [name, e] of rows.slice(0, 25))
  console.log(
    `  ${name.padEnd(24)} ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  ${(e.calls / steps).toFixed(1).padStart(5)} calls/step  ${((1000 * e.ms) / e.calls).toFixed(1).padStart(7)} us/call`,
  )
if (process.argv.includes('--json')) {
  console.log(
    JSON.stringify({
      model: modelName,
      backend: backendName,
      steps,
      ms_per_step: total / steps,
      windows_per_s: (steps * hyper.batch_size) / (total / 1000),
      kernels_pct: (100 * kernelMs) / total,
      gather_pct: (100 * gatherMs) / total,
      kernels: Object.fromEntries(rows.slice(0, 10).map(([name, e]) => [name, e.ms / steps])),
    }),
  )
}
