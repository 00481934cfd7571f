import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Trains a small MLP and LSTM in a child process with `env`, returning what runInfo says. */
async function trainInChild(env: Record<string, string>): Promise<Record<string, Record<string, unknown>>> {
  const script = `
    import { trainNeural } from './models/neural/train.ts'
    import { fitScaler, splitRows } from './models/split.ts'
    import { makeSequenceDataset } from './test/models/neural-dataset.ts'
    const data = makeSequenceDataset({ episodesPerHost: 6 })
    const split = splitRows(data, { seed: 0, val_frac: 0.25 })
    const scaler = fitScaler(data, split.train)
    const out = {}
    for (const model of ['mlp', 'lstm']) {
      const hyper = { epochs: 1, batch_size: 32, hidden: 8, layers: 1, ...(model === 'lstm' ? { seq_len: 3 } : {}) }
      const res = await trainNeural({
        job: { model, hyper, mode: 'realistic', split: {}, train_hosts: [], seed: 0 },
        data, split, scaler, backend: 'wasm', progress: () => {}, signal: new AbortController().signal,
      })
      out[model] = res.runInfo
    }
    console.log(JSON.stringify(out))
  `
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { ...process.env, ...env },
    timeout: 60_000,
  })
  return JSON.parse(stdout.trim().split('\n').at(-1)!)
}

test('without OpenBLAS the neural trainer falls back to tfjs kernels, tfjs steps and its fused Adam', async () => {
  const info = await trainInChild({ OPENBLAS_LIBRARY: '/nonexistent/libopenblas.so.0' })
  for (const model of ['mlp', 'lstm']) {
    assert.equal(info[model].blas, null, model)
    assert.equal(info[model].trainer, 'tfjs', model)
    assert.equal(info[model].optimizer, 'fused adam', model)
  }
})

test('CIS490_NEURAL_FAST=0 trains as tfjs alone does (tfjs kernels, tf.train.adam)', async () => {
  const info = await trainInChild({ CIS490_NEURAL_FAST: '0' })
  for (const model of ['mlp', 'lstm']) {
    assert.equal(info[model].blas, null, model)
    assert.equal(info[model].trainer, 'tfjs', model)
    assert.equal(info[model].optimizer, 'tf.train.adam', model)
  }
})
