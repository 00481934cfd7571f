import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import * as tf from '@tensorflow/tfjs'
import { isOpenBlas, loadOpenBlas } from '../../models/knn/index.ts'
import { probeNeuralBackends, useNeuralBackend } from '../../models/neural/backend.ts'
import { BatchGatherer } from '../../models/neural/batches.ts'
import { deriveSeed, SeededRandom } from '../../models/neural/prng.ts'
import { fitScaler, standardize } from '../../models/split.ts'
import { makeSequenceDataset } from './neural-dataset.ts'

describe('BatchGatherer', () => {
  // One episode per host, both named ep000: consecutive rows with equal episodeOf but
  // different hosts must not be joined into one sequence.
  const data = makeSequenceDataset({ hosts: 2, episodesPerHost: 1, windows: 6, features: 3 })
  const all = Int32Array.from({ length: data.rows }, (_, i) => i)
  const scaler = fitScaler(data, all)
  const std = standardize(data, all, scaler)
  const F = 3

  test('single-window inputs equal standardize() (missing values become 0)', () => {
    const g = new BatchGatherer(data, scaler, null, 4)
    const rows = Int32Array.from([7, 0, 11])
    assert.deepEqual(g.gather(rows, 0, 3), standardize(data, rows, scaler))
    assert.ok(Number.isNaN(data.X[0]))
    assert.equal(g.gather(rows, 1, 2)[0], 0)
    assert.deepEqual(g.inputShape, [3])
    assert.deepEqual(g.labels(rows, 0, 3), Int32Array.from([data.y[7], data.y[0], data.y[11]]))
  })

  test('sequences end at the row, oldest first, zero-padded at the episode start, never crossing hosts', () => {
    const g = new BatchGatherer(data, scaler, 4, 2)
    assert.deepEqual(g.inputShape, [4, 3])
    // Row 3 is window 3 of host0: rows 0..3, no padding.
    const full = g.gather([3], 0, 1)
    assert.deepEqual(full, std.subarray(0, 4 * F))
    // Row 7 is window 1 of host1 (row 5 is host0's last window of the same episode index).
    const seq = Array.from(g.gather([3, 7], 1, 2))
    assert.deepEqual(seq.slice(0, 2 * F), new Array(2 * F).fill(0))
    assert.deepEqual(seq.slice(2 * F), Array.from(std.subarray(6 * F, 8 * F)))
  })

  test('reusing the buffer leaves no stale values in padded slots', () => {
    const g = new BatchGatherer(data, scaler, 4, 1)
    g.gather([5], 0, 1)
    const first = Array.from(g.gather([6], 0, 1))
    assert.deepEqual(first.slice(0, 3 * F), new Array(3 * F).fill(0))
    assert.deepEqual(first.slice(3 * F), Array.from(std.subarray(6 * F, 7 * F)))
  })

  test('refuses a batch larger than it was sized for and a scaler of another width', () => {
    const g = new BatchGatherer(data, scaler, null, 2)
    assert.throws(() => g.gather([0, 1, 2], 0, 3), /batch of 3 rows exceeds/)
    assert.throws(
      () => new BatchGatherer(data, { mean: new Float32Array(2), std: new Float32Array(2) }, null, 2),
      /fit it on this dataset's mode/,
    )
  })
})

describe('seeded randomness', () => {
  test('shuffles are seeded permutations', () => {
    const a = new SeededRandom(5).shuffle(Int32Array.from({ length: 100 }, (_, i) => i))
    const b = new SeededRandom(5).shuffle(Int32Array.from({ length: 100 }, (_, i) => i))
    const c = new SeededRandom(6).shuffle(Int32Array.from({ length: 100 }, (_, i) => i))
    assert.deepEqual(a, b)
    assert.notDeepEqual(a, c)
    assert.deepEqual(
      Array.from(a).sort((x, y) => x - y),
      Array.from({ length: 100 }, (_, i) => i),
    )
  })

  test('derived seeds are positive 31-bit ints that differ by path', () => {
    const seeds = new Set<number>()
    for (let step = 0; step < 1000; step++) seeds.add(deriveSeed(0, 'dropout', step, 0))
    assert.equal(seeds.size, 1000)
    for (const s of seeds) assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 31)
    assert.notEqual(deriveSeed(0, 'init', 1), deriveSeed(1, 'init', 1))
  })
})

describe('tfjs patches', () => {
  test('the Tile gradient sums dy over the repetitions', async () => {
    await useNeuralBackend('wasm')
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6], [1, 2, 3])
    const w = tf.tensor3d(
      Array.from({ length: 2 * 4 * 6 }, (_, i) => (i % 7) - 3),
      [2, 4, 6],
    )
    const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.tile(t, [2, 2, 2]), w)))(x)
    const wv = w.arraySync() as number[][][]
    const expected = [0, 1].map((j) =>
      [0, 1, 2].map((k) => {
        let s = 0
        for (let a = 0; a < 2; a++)
          for (let b = 0; b < 2; b++) for (let c = 0; c < 2; c++) s += wv[a][b * 2 + j][c * 3 + k]
        return s
      }),
    )
    assert.deepEqual(grad.arraySync(), [expected])
    tf.dispose([x, w, grad])
  })

  /** dW[k][ci][co] = sum over b, t of xpad[b][t + k][ci] * dy[b][t][co], in plain JS. */
  function naiveConv1dFilterGrad(
    x: Float32Array,
    dy: Float32Array,
    dims: number[],
    taps: number,
    pad: 'same' | 'valid',
  ) {
    const [B, W, Ci, Co] = dims
    const left = pad === 'same' ? Math.floor((taps - 1) / 2) : 0
    const Wo = pad === 'same' ? W : W - taps + 1
    const out = new Float64Array(taps * Ci * Co)
    for (let b = 0; b < B; b++)
      for (let t = 0; t < Wo; t++)
        for (let k = 0; k < taps; k++) {
          const src = t + k - left
          if (src < 0 || src >= W) continue
          for (let ci = 0; ci < Ci; ci++)
            for (let co = 0; co < Co; co++)
              out[(k * Ci + ci) * Co + co] += x[(b * W + src) * Ci + ci] * dy[(b * Wo + t) * Co + co]
        }
    return out
  }

  for (const [taps, pad] of [
    [3, 'same'],
    [2, 'same'],
    [3, 'valid'],
  ] as const) {
    test(`Conv1D filter gradients (${taps} taps, ${pad}) on wasm and cpu match a plain-JS reference`, async () => {
      const rng = new SeededRandom(3 + taps)
      const values = (n: number) => Float32Array.from({ length: n }, () => rng.nextUint32() / 2 ** 31 - 1)
      const [B, W, Ci, Co] = [5, 7, 4, 6]
      const Wo = pad === 'same' ? W : W - taps + 1
      const xv = values(B * W * Ci)
      const fv = values(taps * Ci * Co)
      const dyv = values(B * Wo * Co)
      const expected = naiveConv1dFilterGrad(xv, dyv, [B, W, Ci, Co], taps, pad)
      for (const backend of ['wasm', 'cpu']) {
        await useNeuralBackend(backend)
        const got = tf.tidy(() => {
          const x = tf.tensor3d(xv, [B, W, Ci])
          const dy = tf.tensor3d(dyv, [B, Wo, Co])
          const g = tf.grad((f: tf.Tensor) => tf.sum(tf.mul(tf.conv1d(x, f as tf.Tensor3D, 1, pad), dy)))
          return Array.from(g(tf.tensor3d(fv, [taps, Ci, Co])).dataSync())
        })
        assert.equal(got.length, expected.length)
        for (let i = 0; i < got.length; i++)
          assert.ok(Math.abs(got[i] - expected[i]) < 1e-4, `${backend} element ${i}: ${got[i]} vs ${expected[i]}`)
      }
    })
  }

  test('2-D convolution filter gradients (the wasm Conv2DBackpropFilter kernel) match the cpu backend', async () => {
    const rng = new SeededRandom(4)
    const values = (n: number) => Float32Array.from({ length: n }, () => rng.nextUint32() / 2 ** 31 - 1)
    const xv = values(2 * 4 * 5 * 3)
    const fv = values(2 * 3 * 3 * 4)
    const gradOn = async (backend: string) => {
      await useNeuralBackend(backend)
      return tf.tidy(() => {
        const x = tf.tensor4d(xv, [2, 4, 5, 3])
        const g = tf.grad((f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, f as tf.Tensor4D, 1, 'same'))))
        return Array.from(g(tf.tensor4d(fv, [2, 3, 3, 4])).dataSync())
      })
    }
    const wasm = await gradOn('wasm')
    const cpu = await gradOn('cpu')
    assert.equal(wasm.length, 2 * 3 * 3 * 4)
    for (let i = 0; i < wasm.length; i++)
      assert.ok(Math.abs(wasm[i] - cpu[i]) < 1e-3, `element ${i}: ${wasm[i]} vs ${cpu[i]}`)
  })

  test('tiling on wasm copies exactly what the cpu backend does, for floats, ints and bools', async () => {
    const cases: [number[], number[]][] = [
      [
        [2, 3, 1],
        [1, 1, 4],
      ],
      [
        [1, 1, 3],
        [2, 3, 1],
      ],
      [
        [2, 1, 3],
        [3, 2, 2],
      ],
      [[4], [1]],
    ]
    const run = async (backend: string) => {
      await useNeuralBackend(backend)
      return cases.flatMap(([shape, reps]) =>
        tf.tidy(() => {
          const n = shape.reduce((a, b) => a * b, 1)
          const f = tf.tensor(
            Float32Array.from({ length: n }, (_, i) => i / 3),
            shape,
          )
          const i32 = tf.tensor(
            Int32Array.from({ length: n }, (_, i) => i * 7),
            shape,
            'int32',
          )
          const b = tf.tensor(
            Uint8Array.from({ length: n }, (_, i) => i % 2),
            shape,
            'bool',
          )
          return [f, i32, b].map((t) => ({
            shape: tf.tile(t, reps).shape,
            values: Array.from(tf.tile(t, reps).dataSync()),
          }))
        }),
      )
    }
    const wasm = await run('wasm')
    const cpu = await run('cpu')
    assert.deepEqual(wasm, cpu)
    assert.deepEqual(wasm[0].shape, [2, 3, 4])
  })
})

describe('wasm transposed products', () => {
  test('matMul with transpose flags on wasm matches the cpu backend, batched too, and frees its temporaries', async () => {
    const rng = new SeededRandom(9)
    const values = (n: number) => Float32Array.from({ length: n }, () => rng.nextUint32() / 2 ** 31 - 1)
    const av = values(3 * 5 * 4)
    const bv = values(3 * 5 * 6)
    const products = async (backend: string) => {
      await useNeuralBackend(backend)
      const before = tf.memory().numTensors
      const out = tf.tidy(() => {
        const a = tf.tensor3d(av, [3, 5, 4])
        const b = tf.tensor3d(bv, [3, 5, 6])
        const a2 = tf.tensor2d(av.subarray(0, 20), [5, 4])
        const b2 = tf.tensor2d(bv.subarray(0, 30), [5, 6])
        return [
          tf.matMul(a, b, true, false),
          tf.matMul(b, a, true, false),
          tf.matMul(tf.transpose(a, [0, 2, 1]), tf.transpose(b, [0, 2, 1]), false, true),
          tf.matMul(a2, b2, true, false),
          tf.matMul(tf.transpose(b2), tf.transpose(a2), false, true),
          tf.matMul(a2, tf.transpose(b2), true, true),
        ].map((t) => Array.from(t.dataSync()))
      })
      assert.equal(tf.memory().numTensors, before)
      return out
    }
    const wasm = await products('wasm')
    const cpu = await products('cpu')
    wasm.forEach((w, k) => {
      assert.equal(w.length, cpu[k].length)
      for (let i = 0; i < w.length; i++)
        assert.ok(Math.abs(w[i] - cpu[k][i]) < 1e-5, `product ${k} element ${i}: ${w[i]} vs ${cpu[k][i]}`)
    })
  })
})

describe('backends', () => {
  test('the probe lists wasm and cpu, and CUDA only with tfjs-node-gpu', () => {
    const probe = probeNeuralBackends()
    assert.ok(probe.available.includes('wasm') && probe.available.includes('cpu'))
    assert.equal(probe.available.includes('tensorflow'), probe.tensorflowPackage !== null)
    if (probe.tensorflowPackage !== '@tensorflow/tfjs-node-gpu') assert.equal(probe.cuda, false)
  })

  test('an unknown backend is refused with the known ones', async () => {
    await assert.rejects(useNeuralBackend('webgpu'), /unknown tfjs backend 'webgpu': use one of wasm, cpu, tensorflow/)
  })

  test('tensorflow without a native binding names the packages to install', async (t) => {
    const probe = probeNeuralBackends()
    if (probe.tensorflowPackage !== null) {
      const got = await useNeuralBackend('tensorflow')
      assert.equal(got.name, 'tensorflow')
      return
    }
    t.diagnostic('no tfjs-node here: checking the error')
    await assert.rejects(useNeuralBackend('tensorflow'), /@tensorflow\/tfjs-node-gpu or @tensorflow\/tfjs-node/)
  })

  test('the default is wasm when no native binding is installed', async () => {
    const got = await useNeuralBackend()
    if (probeNeuralBackends().tensorflowPackage === null) {
      const { name, package: pkg, cuda, fusedAdam } = got
      assert.deepEqual(
        { name, pkg, cuda, fusedAdam },
        { name: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm', cuda: false, fusedAdam: true },
      )
      // OpenBLAS is picked up when it loads, and named.
      if (isOpenBlas(loadOpenBlas())) assert.match(got.blas ?? '', /^OpenBLAS \S+ \S+, \d+ threads?$/)
      else assert.equal(got.blas, null)
    } else assert.equal(got.name, 'tensorflow')
  })
})
