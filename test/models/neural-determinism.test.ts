import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import * as tf from '@tensorflow/tfjs'
import type { JobSpec } from '../../manifests/index.ts'
import { useNeuralBackend } from '../../models/neural/backend.ts'
import { trainNeural } from '../../models/neural/train.ts'
import { fitScaler, splitRows } from '../../models/split.ts'
import type { TrainedModel } from '../../models/types.ts'
import { makeSequenceDataset } from './neural-dataset.ts'

const data = makeSequenceDataset({ episodesPerHost: 16 })
const split = splitRows(data, { seed: 0, val_frac: 0.25 })
const scaler = fitScaler(data, split.train)
const BASE = { epochs: 3, batch_size: 32, lr: 3e-3, hidden: 16, layers: 2, dropout: 0.3, patience: 3 }

async function train(
  model: string,
  backend: string,
  hyper: Record<string, unknown>,
  progress: (l: string) => void = () => {},
): Promise<TrainedModel> {
  const job = { model, hyper: { ...BASE, ...hyper }, mode: 'realistic', split: {}, train_hosts: [], seed: 0 }
  return trainNeural({
    job: job as unknown as JobSpec,
    data,
    split,
    scaler,
    progress,
    signal: new AbortController().signal,
    backend,
  })
}

function sameFiles(a: TrainedModel, b: TrainedModel): boolean {
  return [...a.files].every(([name, bytes]) => Buffer.from(bytes).equals(Buffer.from(b.files.get(name)!)))
}

describe('same seed, same backend, same weights', () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['wasm', 'mlp', {}],
    ['wasm', 'cnn', { seq_len: 4, filters: 8 }],
    ['wasm', 'transformer', { seq_len: 4, heads: 2, layers: 1 }],
    ['cpu', 'mlp', {}],
    ['cpu', 'gru', { seq_len: 3, layers: 1 }],
    // With OpenBLAS, mlp and lstm train outside tfjs's engine (DenseTrainer, LstmTrainer).
    ['wasm', 'lstm', { seq_len: 3 }],
  ]
  for (const [backend, model, extra] of cases) {
    test(`${model} on ${backend}: identical bundle bytes for seed 0 twice, different weights for seed 1`, async () => {
      const a = await train(model, backend, { ...extra, seed: 0 })
      const b = await train(model, backend, { ...extra, seed: 0 })
      const c = await train(model, backend, { ...extra, seed: 1 })
      assert.equal(a.runInfo?.backend, backend)
      assert.ok(sameFiles(a, b), 'model.json and weights.bin are byte-identical')
      assert.deepEqual(a.valPred, b.valPred)
      assert.ok(!Buffer.from(a.files.get('weights.bin')!).equals(Buffer.from(c.files.get('weights.bin')!)))
    })
  }

  test('live tensors stay flat across epochs', async () => {
    await useNeuralBackend('wasm')
    const counts: number[] = []
    await train('lstm', 'wasm', { seq_len: 3, epochs: 4, patience: 10 }, (l) => {
      if (l.startsWith('epoch ')) counts.push(tf.memory().numTensors)
    })
    assert.equal(counts.length, 4)
    assert.ok(
      counts.every((n) => n === counts[0]),
      `tensors after each epoch: ${counts.join(', ')}`,
    )
  })
})
