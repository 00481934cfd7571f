import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import * as tf from '@tensorflow/tfjs'
import { isOpenBlas, loadOpenBlas, type OpenBlas } from '../../models/knn/index.ts'
import { useNeuralBackend } from '../../models/neural/backend.ts'
import { buildNeuralModel } from '../../models/neural/build-model.ts'
import { DenseTrainer } from '../../models/neural/dense-trainer.ts'
import { FusedAdam } from '../../models/neural/fused-adam.ts'
import { SeededRandom } from '../../models/neural/prng.ts'
import { GruHyper, MlpHyper } from '../../models/registry/index.ts'

const blas = loadOpenBlas()
const skip = isOpenBlas(blas) ? false : 'OpenBLAS does not load here'
const F = 12
const C = 4
const N = 48

function batch(seed: number): { x: Float32Array; y: Int32Array } {
  const rng = new SeededRandom(seed)
  const y = Int32Array.from({ length: N }, () => rng.nextInt(C))
  const x = Float32Array.from(
    { length: N * F },
    (_, i) => rng.nextUint32() / 2 ** 31 - 1 + (y[(i / F) | 0] === i % C ? 1 : 0),
  )
  return { x, y }
}

function mlp(dropout: number, seed = 0): tf.LayersModel {
  return buildNeuralModel(
    'mlp',
    { inputShape: [F], classes: C },
    MlpHyper.parse({ hidden: 16, layers: 2, dropout, seed }),
  )
}

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => Float32Array.from(w.dataSync()))
}

describe('DenseTrainer', { skip }, () => {
  const openBlas = blas as OpenBlas

  test('takes the MLP and refuses other models', async () => {
    await useNeuralBackend('wasm')
    const model = mlp(0.1)
    assert.ok(DenseTrainer.forModel(model, openBlas, 1e-3, N))
    const gru = buildNeuralModel('gru', { inputShape: [3, F], classes: C }, GruHyper.parse({ seq_len: 3, hidden: 8 }))
    assert.equal(DenseTrainer.forModel(gru, openBlas, 1e-3, N), null)
    model.dispose()
    gru.dispose()
  })

  test('without dropout, its steps follow tfjs autodiff with the same Adam', async () => {
    await useNeuralBackend('wasm')
    const ours = mlp(0)
    const theirs = mlp(0)
    const trainer = DenseTrainer.forModel(ours, openBlas, 0.01, N)!
    const optimizer = new FusedAdam(0.01, 'wasm')
    const variables = theirs.trainableWeights.map((w) => w.read() as tf.Variable)
    let ourLoss = 0
    let theirLoss = 0
    for (let s = 0; s < 6; s++) {
      const { x, y } = batch(s)
      ourLoss = trainer.step(x, y, N, () => 0) / N
      theirLoss = tf.tidy(() => {
        const xt = tf.tensor2d(x, [N, F])
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
    for (let w = 0; w < a.length; w++)
      for (let i = 0; i < a[w].length; i++)
        assert.ok(Math.abs(a[w][i] - b[w][i]) < 1e-4, `weight ${w}[${i}]: ${a[w][i]} vs ${b[w][i]}`)
    // Training moved the weights away from the initial ones.
    const init = weightsOf(mlp(0))
    assert.ok(a[0].some((v, i) => Math.abs(v - init[0][i]) > 0.01))
    optimizer.dispose()
    ours.dispose()
    theirs.dispose()
  })

  test('with dropout: the same seeds give identical weights at any OpenBLAS thread count, other seeds others', async () => {
    await useNeuralBackend('wasm')
    const before = openBlas.threads()
    const run = (threads: number, seedBase: number): Float32Array[] => {
      openBlas.setThreads(threads)
      const model = mlp(0.5)
      const trainer = DenseTrainer.forModel(model, openBlas, 0.01, N)!
      for (let s = 0; s < 5; s++) {
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
      const other = run(1, 1000)
      for (let w = 0; w < one.length; w++)
        assert.ok(Buffer.from(one[w].buffer).equals(Buffer.from(two[w].buffer)), `weight ${w}: 1 vs 2 threads`)
      assert.ok(!Buffer.from(one[0].buffer).equals(Buffer.from(other[0].buffer)))
    } finally {
      openBlas.setThreads(before)
    }
  })

  test('dropout drops about its rate of the hidden units and rescales the rest', async () => {
    await useNeuralBackend('wasm')
    const model = mlp(0.3)
    const trainer = DenseTrainer.forModel(model, openBlas, 0, N)!
    const { x, y } = batch(0)
    const plain = DenseTrainer.forModel(mlp(0), openBlas, 0, N)!
    trainer.step(x, y, N, () => 42)
    plain.step(x, y, N, () => 0)
    const layer = (t: DenseTrainer) => (t as unknown as { layers: { out: Float32Array }[] }).layers[0].out
    const dropped = layer(trainer)
    const full = layer(plain)
    let active = 0
    let zeroed = 0
    for (let i = 0; i < N * 16; i++) {
      if (!(full[i] > 0)) continue
      active++
      if (dropped[i] === 0) zeroed++
      else assert.ok(Math.abs(dropped[i] - full[i] / 0.7) < 1e-5)
    }
    assert.ok(Math.abs(zeroed / active - 0.3) < 0.08, `dropped ${zeroed} of ${active}`)
    model.dispose()
  })
})
