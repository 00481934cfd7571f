import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import * as tf from '@tensorflow/tfjs'
import type { JobSpec } from '../../manifests/index.ts'
import { macroF1 } from '../../models/metrics.ts'
import { useNeuralBackend } from '../../models/neural/backend.ts'
import { trainNeural } from '../../models/neural/train.ts'
import { fitScaler, labelsOf, splitRows, standardize } from '../../models/split.ts'
import type { Dataset, Scaler, Split, TrainedModel } from '../../models/types.ts'
import { makeSequenceDataset } from './neural-dataset.ts'

const SMALL = { epochs: 8, batch_size: 64, lr: 3e-3, hidden: 32, layers: 1, dropout: 0.1, patience: 3, seed: 0 }
const HYPERS: Record<string, Record<string, unknown>> = {
  mlp: { ...SMALL, layers: 2 },
  cnn: { ...SMALL, seq_len: 4, filters: 16, kernel_size: 3 },
  gru: { ...SMALL, seq_len: 4 },
  lstm: { ...SMALL, seq_len: 4 },
  transformer: { ...SMALL, seq_len: 4, heads: 4 },
}

function job(model: string, hyper: Record<string, unknown>): JobSpec {
  return { model, hyper, mode: 'realistic', split: {}, train_hosts: [], seed: 0 } as unknown as JobSpec
}

/** Macro F1 of always predicting the most frequent train class. */
function majorityBaseline(data: Dataset, split: Split): number {
  const counts = new Array<number>(data.classes.length).fill(0)
  for (const r of split.train) counts[data.y[r]]++
  const major = counts.indexOf(Math.max(...counts))
  return macroF1(labelsOf(data, split.val), new Int32Array(split.val.length).fill(major), data.classes.length)
}

/**
 * Model inputs built the way the bundle README tells a user to, independently of the
 * trainer's BatchGatherer: standardise, then per row the last `seqLen` windows of its
 * (host, episode) by `window` value, zero rows before the episode's start.
 */
function readmeInputs(data: Dataset, rows: Int32Array, scaler: Scaler, seqLen: number | null): Float32Array {
  const F = data.features.length
  if (seqLen === null) return standardize(data, rows, scaler)
  const all = standardize(
    data,
    Int32Array.from({ length: data.rows }, (_, i) => i),
    scaler,
  )
  const byEpisode = new Map<string, number[]>()
  for (let r = 0; r < data.rows; r++) {
    const key = `${data.hostOf[r]}/${data.episodeOf[r]}`
    const list = byEpisode.get(key) ?? []
    list.push(r)
    byEpisode.set(key, list)
  }
  for (const list of byEpisode.values()) list.sort((a, b) => data.window[a] - data.window[b])
  const out = new Float32Array(rows.length * seqLen * F)
  rows.forEach((r, i) => {
    const list = byEpisode.get(`${data.hostOf[r]}/${data.episodeOf[r]}`)!
    const pos = list.findIndex((x) => data.window[x] === data.window[r])
    for (let k = 0; k < seqLen; k++) {
      const src = pos - (seqLen - 1 - k)
      if (src >= 0) out.set(all.subarray(list[src] * F, (list[src] + 1) * F), (i * seqLen + k) * F)
    }
  })
  return out
}

/** Loads a bundle directory the way its README says (plain tfjs, from memory). */
async function loadLikeReadme(dir: string): Promise<tf.LayersModel> {
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'))
  const bin = await readFile(join(dir, 'weights.bin'))
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
    }),
  )
}

describe('neural trainers on wasm', () => {
  const data = makeSequenceDataset({ hosts: 3 })
  const split = splitRows(data, { seed: 0, val_frac: 0.25, test_hosts: ['host2'] })
  const scaler = fitScaler(data, split.train)
  const valLabels = labelsOf(data, split.val)
  const baseline = majorityBaseline(data, split)
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cis490-neural-'))
    await useNeuralBackend('wasm')
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  for (const model of Object.keys(HYPERS)) {
    test(`${model} beats the majority baseline, releases its tensors, and its bundle reproduces val macro F1`, async () => {
      const lines: string[] = []
      const tensorsBefore = tf.memory().numTensors
      const res: TrainedModel = await trainNeural({
        job: job(model, HYPERS[model]),
        data,
        split,
        scaler,
        progress: (l) => lines.push(l),
        signal: new AbortController().signal,
        backend: 'wasm',
      })
      assert.equal(tf.memory().numTensors, tensorsBefore, 'every tensor of the run is disposed')
      const f1 = macroF1(valLabels, res.valPred, data.classes.length)
      assert.ok(
        f1 > baseline + 0.3,
        `${model} val macro F1 ${f1.toFixed(3)} vs majority baseline ${baseline.toFixed(3)}`,
      )
      assert.equal(res.testPred.length, split.test.length)
      assert.ok(res.testPred.every((c) => c >= 0 && c < data.classes.length))

      assert.ok(
        lines.some((l) => /^epoch 1\/8 loss \d+\.\d+ val_macro_f1 \d\.\d+ .* \d+ windows\/s eta \d+s$/.test(l)),
        lines.join('\n'),
      )
      assert.equal(res.runInfo?.backend, 'wasm')
      assert.equal(res.runInfo?.cuda, false)
      const seqLen = model === 'mlp' ? null : 4
      assert.deepEqual(res.extraBundle?.input_shape, seqLen === null ? [12] : [4, 12])
      assert.equal(res.extraBundle?.seq_len, seqLen ?? undefined)
      assert.match(res.readme, /tensorflowjs_converter --input_format=tfjs_layers_model --output_format=keras/)
      assert.match(res.readme, /scaler\.json/)

      const bundleDir = join(dir, model)
      await rm(bundleDir, { recursive: true, force: true })
      await import('node:fs/promises').then((fs) => fs.mkdir(bundleDir))
      for (const [name, bytes] of res.files) await writeFile(join(bundleDir, name), bytes)
      const loaded = await loadLikeReadme(bundleDir)
      try {
        const shape = seqLen === null ? [split.val.length, 12] : [split.val.length, seqLen, 12]
        const pred = tf.tidy(() => {
          const probs = loaded.predict(tf.tensor(readmeInputs(data, split.val, scaler, seqLen), shape)) as tf.Tensor
          return tf.argMax(probs, -1).dataSync()
        })
        assert.deepEqual(Int32Array.from(pred), res.valPred, 'the reloaded model predicts the same val classes')
        assert.equal(macroF1(valLabels, pred, data.classes.length), f1)
      } finally {
        loaded.dispose()
      }
    })
  }

  test('an aborted signal stops training with the abort reason and leaks no tensors', async () => {
    const controller = new AbortController()
    const tensorsBefore = tf.memory().numTensors
    let lines = 0
    const run = trainNeural({
      job: job('mlp', { ...SMALL, epochs: 50 }),
      data,
      split,
      scaler,
      progress: () => {
        if (++lines === 2) controller.abort(new Error('cancelled by operator'))
      },
      signal: controller.signal,
      backend: 'wasm',
    })
    await assert.rejects(run, /cancelled by operator/)
    assert.equal(tf.memory().numTensors, tensorsBefore)
  })

  test('concurrent calls in one process run one after the other', async () => {
    const log: string[] = []
    const run = (tag: string, backend: string) =>
      trainNeural({
        job: job('mlp', { ...SMALL, epochs: 2 }),
        data,
        split,
        scaler,
        progress: () => log.push(tag),
        signal: new AbortController().signal,
        backend,
      })
    const [a, b] = await Promise.all([run('a', 'wasm'), run('b', 'cpu')])
    assert.equal(a.runInfo?.backend, 'wasm')
    assert.equal(b.runInfo?.backend, 'cpu')
    assert.equal(log.join(''), 'aaabbb')
    await useNeuralBackend('wasm')
  })

  test('a hyper for another model is refused', async () => {
    await assert.rejects(
      trainNeural({
        job: job('mlp', { heads: 4 }),
        data,
        split,
        scaler,
        progress: () => {},
        signal: new AbortController().signal,
        backend: 'wasm',
      }),
      /heads/,
    )
  })
})
