import * as tf from '@tensorflow/tfjs'
import type { TrainContext, TrainedModel, Trainer } from '../types.ts'
import { useNeuralBackend } from './backend.ts'
import { BatchGatherer } from './batches.ts'
import { blasMatMulOf } from './blas-matmul.ts'
import { buildNeuralModel, isNeuralModel, NEURAL_MODELS, parseNeuralHyper, sequenceLength } from './build-model.ts'
import { layersModelFiles } from './bundle-files.ts'
import { DenseTrainer } from './dense-trainer.ts'
import { type FastTrainer, fitModel } from './fit.ts'
import { LstmTrainer } from './lstm-trainer.ts'
import { PREDICT_BATCH, predictClasses } from './predict.ts'
import { neuralReadme } from './readme.ts'
import { isStorageBackend } from './tensor-storage.ts'

/**
 * Trains one of the five tfjs models (`ctx.job.model`: mlp, cnn, gru, lstm, transformer)
 * on the train rows, early-stopping on val macro F1, and returns its tfjs layers files
 * with its val and test predictions.
 *
 * @remarks The backend is `ctx.backend` when set, otherwise tfjs-node-gpu, tfjs-node or
 * wasm, whichever loads first; `runInfo` says which and whether CUDA was used. The model's
 * tensors are all released before returning. Concurrent calls in one process run one
 * after the other.
 */
export const trainNeural: Trainer = (ctx) => {
  // One run at a time per process: tfjs has one global backend, and runs on one JS
  // thread gain nothing from interleaving.
  const run = queue.then(() => trainOne(ctx))
  queue = run.catch(() => {})
  return run
}

let queue: Promise<unknown> = Promise.resolve()

async function trainOne(ctx: TrainContext): Promise<TrainedModel> {
  const name = ctx.job.model
  if (!isNeuralModel(name)) throw new Error(`trainNeural cannot train '${name}': it trains ${NEURAL_MODELS.join(', ')}`)
  const hyper = parseNeuralHyper(name, ctx.job.hyper)
  const backend = await useNeuralBackend(ctx.backend)
  const { data, split, scaler } = ctx
  const seqLen = sequenceLength(hyper)
  const trainGatherer = new BatchGatherer(data, scaler, seqLen, hyper.batch_size)
  const predictGatherer = new BatchGatherer(data, scaler, seqLen, PREDICT_BATCH)
  const inputShape = trainGatherer.inputShape
  const classes = data.classes.length
  ctx.progress(
    `${name}: tfjs ${backend.name}${backend.cuda ? ' (CUDA)' : ''}${backend.blas ? ` (matMul on ${backend.blas})` : ''}, input [${inputShape.join(', ')}], ` +
      `${split.train.length} train / ${split.val.length} val / ${split.test.length} test windows`,
  )
  const model = buildNeuralModel(name, { inputShape, classes }, hyper)
  try {
    const blas = backend.blas === null ? null : blasMatMulOf(backend.name)
    // The MLP and the LSTM train outside tfjs's engine when their products can run on OpenBLAS.
    const fast: FastTrainer | null =
      blas === null
        ? null
        : name === 'mlp'
          ? DenseTrainer.forModel(model, blas, hyper.lr, hyper.batch_size)
          : name === 'lstm'
            ? LstmTrainer.forModel(model, blas, hyper.lr, hyper.batch_size)
            : null
    const valLabels = new Int32Array(split.val.length)
    for (let i = 0; i < split.val.length; i++) valLabels[i] = data.y[split.val[i]]
    const fit = await fitModel({
      model,
      trainGatherer,
      predictGatherer,
      trainRows: split.train,
      valRows: split.val,
      valLabels,
      classes,
      hyper,
      fusedAdam: backend.fusedAdam && isStorageBackend(backend.name) ? backend.name : null,
      fastTrainer: fast,
      progress: ctx.progress,
      signal: ctx.signal,
    })
    const predictStart = performance.now()
    const valPred = await predictClasses(model, predictGatherer, split.val, ctx.signal)
    const testPred = await predictClasses(model, predictGatherer, split.test, ctx.signal)
    const predictSeconds = (performance.now() - predictStart) / 1000
    const files = await layersModelFiles(model)
    return {
      files,
      valPred,
      testPred,
      extraBundle: {
        input_shape: inputShape,
        ...(seqLen === null ? {} : { seq_len: seqLen }),
        parameters: model.countParams(),
      },
      runInfo: {
        backend: backend.name,
        backend_package: backend.package,
        cuda: backend.cuda,
        blas: backend.blas,
        optimizer: backend.fusedAdam ? 'fused adam' : 'tf.train.adam',
        trainer: fast ? `${fast.constructor.name} (OpenBLAS, outside the tfjs engine)` : 'tfjs',
        tfjs_version: tf.version.tfjs,
        epochs_run: fit.epochsRun,
        best_epoch: fit.bestEpoch,
        train_losses: fit.losses,
        train_seconds: fit.trainSeconds,
        train_cpu_seconds: fit.trainCpuSeconds,
        train_windows_per_s: fit.windowsPerSecond,
        predict_seconds: predictSeconds,
      },
      readme: neuralReadme({ model: name, seqLen, features: data.features.length, classes }),
    }
  } finally {
    model.dispose()
  }
}
