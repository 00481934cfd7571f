import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import * as tf from '@tensorflow/tfjs'
import { isOpenBlas, loadOpenBlas, type OpenBlas } from '../../models/knn/index.ts'
import { useNeuralBackend } from '../../models/neural/backend.ts'
import { buildNeuralModel } from '../../models/neural/build-model.ts'
import { FusedAdam } from '../../models/neural/fused-adam.ts'
import { LstmTrainer } from '../../models/neural/lstm-trainer.ts'
import { SeededRandom } from '../../models/neural/prng.ts'
import { GruHyper, LstmHyper } from '../../models/registry/index.ts'

const blas = loadOpenBlas()
const skip = isOpenBlas(blas) ? false : 'OpenBLAS does not load here'
const T = 3
const F = 5
const C = 3
const N = 24

function batch(seed: number): { x: Float32Array; y: Int32Array } {
  const rng = new SeededRandom(seed)
  const y = Int32Array.from({ length: N }, () => rng.nextInt(C))
  const x = Float32Array.from(
    { length: N * T * F },
    (_, i) => rng.nextUint32() / 2 ** 31 - 1 + (y[Math.floor(i / (T * F))] === i % C ? 1 : 0),
  )
  return { x, y }
}

function lstm(dropout: number, layers = 2): tf.LayersModel {
  return buildNeuralModel(
    'lstm',
    { inputShape: [T, F], classes: C },
    LstmHyper.parse({ seq_len: T, hidden: 8, layers, dropout, seed: 3 }),
  )
}

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => Float32Array.from(w.dataSync()))
}

describe('LstmTrainer', { skip }, () => {
  const openBlas = blas as OpenBlas

  test('takes the LSTM stack and refuses a GRU', async () => {
    await useNeuralBackend('wasm')
    const model = lstm(0.1)
    assert.ok(LstmTrainer.forModel(model, openBlas, 1e-3, N))
    const gru = buildNeuralModel('gru', { inputShape: [T, F], classes: C }, GruHyper.parse({ seq_len: T, hidden: 8 }))
    assert.equal(LstmTrainer.forModel(gru, openBlas, 1e-3, N), null)
    model.dispose()
    gru.dispose()
  })

  for (const layers of [1, 2]) {
    test(`${layers} layer(s), no dropout: its steps follow tfjs autodiff with the same Adam`, async () => {
      await useNeuralBackend('wasm')
      const ours = lstm(0, layers)
      const theirs = lstm(0, layers)
      const trainer = LstmTrainer.forModel(ours, openBlas, 0.01, N)!
      const optimizer = new FusedAdam(0.01, 'wasm')
      const variables = theirs.trainableWeights.map((w) => w.read() as tf.Variable)
      for (let s = 0; s < 5; s++) {
        const { x, y } = batch(s)
        const ourLoss = trainer.step(x, y, N, () => 0) / N
        const theirLoss = tf.tidy(() => {
          const xt = tf.tensor3d(x, [N, T, F])
          const onehot = tf.oneHot(tf.tensor1d(y, 'int32'), C)
          const cost = optimizer.minimize(
            () => {
              const p = theirs.apply(xt, { training: true }) as tf.Tensor
              const picked = tf.sum(tf.mul(p, onehot), -1)
              return tf.neg(tf.mean(tf.log(tf.clipByValue(picked, 1e-7, 1 - 1e-7)))) as tf.Scalar
            },
            true,
            variables,
          )!
          return cost.dataSync()[0]
        })
        assert.ok(Math.abs(ourLoss - theirLoss) < 1e-4, `step ${s} loss ${ourLoss} vs ${theirLoss}`)
      }
      trainer.syncModel()
      const a = weightsOf(ours)
      const b = weightsOf(theirs)
      assert.equal(a.length, layers * 3 + 2)
      for (let w = 0; w < a.length; w++)
        for (let i = 0; i < a[w].length; i++)
          assert.ok(Math.abs(a[w][i] - b[w][i]) < 1e-4, `weight ${w}[${i}]: ${a[w][i]} vs ${b[w][i]}`)
      const init = weightsOf(lstm(0, layers))
      assert.ok(
        a[1].some((v, i) => Math.abs(v - init[1][i]) > 0.01),
        'the recurrent kernel moved',
      )
      optimizer.dispose()
      ours.dispose()
      theirs.dispose()
    })
  }

  test('with dropout: identical weights for the same seeds at 1 and 2 OpenBLAS threads', async () => {
    await useNeuralBackend('wasm')
    const before = openBlas.threads()
    const run = (threads: number, seedBase: number): Float32Array[] => {
      openBlas.setThreads(threads)
      const model = lstm(0.4)
      const trainer = LstmTrainer.forModel(model, openBlas, 0.01, N)!
      for (let s = 0; s < 4; s++) {
        const { x, y } = batch(s)
        trainer.step(x, y, N, (i) => seedBase + 10 * s + i)
      }
      trainer.syncModel()
      const w = weightsOf(model)
      model.dispose()
      return w
    }
    try {
      const one = run(1, 0)
      const two = run(2, 0)
      const other = run(1, 500)
      for (let w = 0; w < one.length; w++)
        assert.ok(Buffer.from(one[w].buffer).equals(Buffer.from(two[w].buffer)), `weight ${w}: 1 vs 2 threads`)
      assert.ok(!Buffer.from(one[0].buffer).equals(Buffer.from(other[0].buffer)))
    } finally {
      openBlas.setThreads(before)
    }
  })
})
