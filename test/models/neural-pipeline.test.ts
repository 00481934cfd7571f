import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { JobSpec } from '../../manifests/index.ts'
import { loadDataset } from '../../models/dataset/index.ts'
import { macroF1 } from '../../models/metrics.ts'
import { trainNeural } from '../../models/neural/train.ts'
import { fitScaler, labelsOf, splitRows } from '../../models/split.ts'
import type { Dataset } from '../../models/types.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'

let dir: string
let data: Dataset

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cis490-neural-pipeline-'))
  // 2 hosts x 60 episodes x 12 windows; part of the class signal is an oscillation over
  // an episode's windows that only a sequence model can see.
  await makeSyntheticDataset(join(dir, 'data'), { episodes: 60, windows: 12 })
  data = await loadDataset(join(dir, 'data'), 'realistic')
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('on a loaded CSV dataset, a GRU beats the MLP and both beat the majority baseline', async () => {
  const split = splitRows(data, { seed: 0, test_hosts: ['k-gamingcom'], val_frac: 0.3 })
  const scaler = fitScaler(data, split.train)
  const yVal = labelsOf(data, split.val)
  const counts = new Array<number>(data.classes.length).fill(0)
  for (const r of split.train) counts[data.y[r]]++
  const majority = new Int32Array(yVal.length).fill(counts.indexOf(Math.max(...counts)))
  const baseline = macroF1(yVal, majority, data.classes.length)
  const f1 = async (model: string, hyper: Record<string, unknown>) => {
    const res = await trainNeural({
      job: { model, hyper, mode: 'realistic', split: {}, train_hosts: [], seed: 0 } as unknown as JobSpec,
      data,
      split,
      scaler,
      progress: () => {},
      signal: new AbortController().signal,
      backend: 'wasm',
    })
    assert.equal(res.testPred.length, split.test.length)
    return macroF1(yVal, res.valPred, data.classes.length)
  }
  const common = { epochs: 10, batch_size: 32, lr: 3e-3, hidden: 32, layers: 1, patience: 4 }
  const mlp = await f1('mlp', common)
  const gru = await f1('gru', { ...common, seq_len: 6 })
  assert.ok(mlp > baseline + 0.15, `mlp ${mlp.toFixed(3)} vs majority ${baseline.toFixed(3)}`)
  assert.ok(gru > mlp, `gru ${gru.toFixed(3)} vs mlp ${mlp.toFixed(3)}`)
})
