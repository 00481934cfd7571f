import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { JobId, JobSpec } from '../../manifests/index.ts'
import { DEFAULT_JOB_CONSTRAINTS } from '../../manifests/index.ts'
import { fitBooster, GBT_MODEL_FILE, loadXgboost, trainGbt, XgboostMissingError } from '../../models/gbt/index.ts'
import { GbtHyper } from '../../models/registry/index.ts'
import { splitRows } from '../../models/split.ts'
import type { Dataset, Split, TrainContext } from '../../models/types.ts'
import { gridDataset, mulberry32 } from '../helpers/memory-dataset.ts'

/** Debian's python3 (where `python3-xgboost` lives), unless PYTHON says otherwise. */
const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3')

/**
 * A small telemetry-like dataset: 3 hosts x `episodes` episodes x `windows` windows,
 * `features` features of which the first 4 carry the class (shifted per host), ~5% NaN.
 */
function makeDataset(opts: { episodes?: number; windows?: number; features?: number; classes?: number } = {}): Dataset {
  const episodesPerHost = opts.episodes ?? 20
  const windows = opts.windows ?? 10
  const f = opts.features ?? 8
  const k = opts.classes ?? 3
  const hosts = ['host-a', 'host-b', 'host-c']
  const rand = mulberry32(42)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
  const rows = hosts.length * episodesPerHost * windows
  const X = new Float32Array(rows * f)
  const y = new Int32Array(rows)
  const episodes: string[] = []
  for (let e = 0; e < episodesPerHost; e++) episodes.push(`ep${String(e).padStart(3, '0')}`)
  let r = 0
  for (let h = 0; h < hosts.length; h++) {
    for (let e = 0; e < episodesPerHost; e++) {
      const label = (e + h) % k
      for (let w = 0; w < windows; w++, r++) {
        y[r] = label
        for (let j = 0; j < f; j++) {
          const signal = j < 4 ? (label === j % k ? 2.5 : 0) * (1 + 0.3 * h) : 0
          X[r * f + j] = rand() < 0.05 ? Number.NaN : signal + gauss() + 0.5 * h
        }
      }
    }
  }
  return gridDataset({
    name: 'gbt-fixture',
    hosts,
    episodes,
    windows,
    features: Array.from({ length: f }, (_, j) => `f${j}`),
    classes: Array.from({ length: k }, (_, c) => `class${c}`),
    X,
    y,
  })
}

/** A gbt job; one thread unless the test is about threads (2-core CI machines run tests in parallel). */
function job(hyper: Record<string, unknown>, seed = 0): JobSpec {
  return {
    ...DEFAULT_JOB_CONSTRAINTS,
    id: 'fixture'.padEnd(64, '0') as JobId,
    model: 'gbt',
    mode: 'realistic',
    hyper: GbtHyper.parse({ nthread: 1, ...hyper }),
    split: { test_hosts: ['host-c'], val_frac: 0.25 },
    train_hosts: [],
    seed,
  }
}

function context(data: Dataset, split: Split, spec: JobSpec, extra: Partial<TrainContext> = {}): TrainContext {
  return {
    job: spec,
    data,
    split,
    scaler: { mean: new Float32Array(0), std: new Float32Array(0) },
    progress: () => {},
    signal: new AbortController().signal,
    ...extra,
  }
}

function accuracy(pred: Int32Array, data: Dataset, rows: Int32Array): number {
  let ok = 0
  for (let i = 0; i < rows.length; i++) if (pred[i] === data.y[rows[i]]) ok++
  return ok / rows.length
}

function modelOf(files: ReadonlyMap<string, Uint8Array>): {
  learner: {
    attributes: Record<string, string>
    gradient_booster: { model: { gbtree_model_param: { num_trees: string } } }
    learner_model_param: { num_class: string; num_feature: string }
  }
} {
  const bytes = files.get(GBT_MODEL_FILE)
  assert.ok(bytes, `${GBT_MODEL_FILE} is in the files`)
  return JSON.parse(Buffer.from(bytes).toString('utf8'))
}

describe('gbt trainer (real XGBoost)', () => {
  const data = makeDataset()
  const split = splitRows(data, { test_hosts: ['host-c'], val_frac: 0.25, seed: 0 })

  it('learns the classes, keeps the best rounds and reports progress', async () => {
    const lines: string[] = []
    const out = await trainGbt(
      context(data, split, job({ num_boost_round: 30, max_depth: 3, eta: 0.3 }), { progress: (l) => lines.push(l) }),
    )
    assert.equal(out.valPred.length, split.val.length)
    assert.equal(out.testPred.length, split.test.length)
    // 3 classes: chance is ~0.33; the first 4 features separate them well.
    assert.ok(accuracy(out.valPred, data, split.val) > 0.8, `val accuracy ${accuracy(out.valPred, data, split.val)}`)
    assert.ok(
      accuracy(out.testPred, data, split.test) > 0.7,
      `test accuracy ${accuracy(out.testPred, data, split.test)}`,
    )
    const extra = out.extraBundle as { best_iteration: number; rounds_trained: number; xgboost_version: string }
    const model = modelOf(out.files)
    assert.equal(model.learner.learner_model_param.num_class, '3')
    assert.equal(model.learner.learner_model_param.num_feature, '8')
    assert.equal(
      Number(model.learner.gradient_booster.model.gbtree_model_param.num_trees),
      3 * (extra.best_iteration + 1),
    )
    assert.equal(model.learner.attributes.best_iteration, String(extra.best_iteration))
    assert.equal(extra.xgboost_version, loadXgboost().version)
    assert.equal(out.runInfo?.xgboost_library, loadXgboost().path)
    assert.ok(
      lines.length >= 2 && lines.every((l) => /^gbt round \d+\/30 val mlogloss \d+\.\d+/.test(l)),
      lines.join('\n'),
    )
    assert.match(out.readme, /xgb\.Booster\(model_file="model\.xgb\.json"\)/)
  })

  it('stops early once val mlogloss has not improved for early_stopping_rounds rounds', async () => {
    // eta 1 and deep trees overfit within a few rounds, so val mlogloss turns up early.
    const out = await trainGbt(
      context(
        data,
        split,
        job({ num_boost_round: 200, early_stopping_rounds: 3, eta: 1, max_depth: 8, min_child_weight: 0 }),
      ),
    )
    const extra = out.extraBundle as { best_iteration: number; rounds_trained: number }
    assert.ok(extra.rounds_trained < 200, `stopped after ${extra.rounds_trained} rounds`)
    assert.equal(extra.rounds_trained, extra.best_iteration + 1 + 3)
    const trees = Number(modelOf(out.files).learner.gradient_booster.model.gbtree_model_param.num_trees)
    assert.equal(trees, 3 * (extra.best_iteration + 1))
  })

  it('gives byte-identical model.xgb.json for the same job twice, with row and column sampling', async () => {
    const spec = job({ num_boost_round: 8, subsample: 0.7, colsample_bytree: 0.6, nthread: 0 }, 7)
    const a = await trainGbt(context(data, split, spec))
    const b = await trainGbt(context(data, split, spec))
    assert.deepEqual(a.files.get(GBT_MODEL_FILE), b.files.get(GBT_MODEL_FILE))
    assert.deepEqual(a.valPred, b.valPred)
    assert.deepEqual(a.testPred, b.testPred)
    assert.deepEqual(a.extraBundle, b.extraBundle)
    // A different seed draws other rows and columns, so the check above is not vacuous.
    const c = await trainGbt(context(data, split, { ...spec, seed: 8 }))
    assert.notDeepEqual(a.files.get(GBT_MODEL_FILE), c.files.get(GBT_MODEL_FILE))
  })

  it('gives the same model with 1 thread and with 2 (so hosts with other core counts agree)', async () => {
    // hist builds histograms over blocks of 256 rows shared out among the threads, so the
    // nodes need a few thousand rows for the thread count to change the summation order.
    const big = makeDataset({ episodes: 60, windows: 25 })
    const bigSplit = splitRows(big, { test_hosts: ['host-c'], val_frac: 0.25, seed: 0 })
    assert.ok(bigSplit.train.length > 2000)
    const hyper = { num_boost_round: 5, early_stopping_rounds: 5, subsample: 0.8 }
    const one = await trainGbt(context(big, bigSplit, job({ ...hyper, nthread: 1 })))
    const two = await trainGbt(context(big, bigSplit, job({ ...hyper, nthread: 2 })))
    assert.deepEqual(one.files.get(GBT_MODEL_FILE), two.files.get(GBT_MODEL_FILE))
  })

  it('stops between rounds when the signal aborts', async () => {
    const controller = new AbortController()
    let rounds = 0
    const run = trainGbt(
      context(data, split, job({ num_boost_round: 500, early_stopping_rounds: 500, eta: 0.01 }), {
        signal: controller.signal,
        progress: (line) => {
          rounds = Number(/round (\d+)/.exec(line)?.[1])
          if (rounds >= 10) controller.abort()
        },
      }),
    )
    await assert.rejects(run, { name: 'AbortError' })
    assert.ok(rounds >= 10 && rounds < 500, `aborted after round ${rounds}`)
  })

  it('refuses an empty val split with a message naming the fix', async () => {
    const noVal: Split = { ...split, val: new Int32Array(0) }
    await assert.rejects(trainGbt(context(data, noVal, job({}))), /val split is empty.*val_frac/)
  })

  it('fails with install instructions when the library is missing', async () => {
    const saved = process.env.XGBOOST_LIBRARY
    process.env.XGBOOST_LIBRARY = '/nonexistent/libxgboost.so'
    try {
      await assert.rejects(trainGbt(context(data, split, job({}))), (err: Error) => {
        assert.ok(err instanceof XgboostMissingError)
        assert.match(err.message, /XGBOOST_LIBRARY=\/nonexistent\/libxgboost\.so is not a file/)
        assert.match(err.message, /apt-get install libxgboost0/)
        return true
      })
    } finally {
      if (saved === undefined) delete process.env.XGBOOST_LIBRARY
      else process.env.XGBOOST_LIBRARY = saved
    }
  })
})

describe('gbt interop with Python xgboost', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gbt-interop-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('Python loads model.xgb.json and predicts the same probabilities', async () => {
    const data = makeDataset({ features: 6, classes: 4 })
    const split = splitRows(data, { test_hosts: ['host-c'], val_frac: 0.25, seed: 3 })
    const spec = job({ num_boost_round: 20, subsample: 0.9, max_depth: 4 }, 3)
    const lib = loadXgboost()
    const fit = await fitBooster(lib, {
      data,
      split,
      hyper: GbtHyper.parse(spec.hyper),
      seed: spec.seed,
      progress: () => {},
      signal: new AbortController().signal,
    })
    const trained = await trainGbt(context(data, split, spec))
    assert.deepEqual(trained.files.get(GBT_MODEL_FILE), fit.modelJson)

    // The test rows, NaNs included, as raw float32.
    const f = data.features.length
    const rows = new Float32Array(split.test.length * f)
    for (let i = 0; i < split.test.length; i++)
      rows.set(data.X.subarray(split.test[i] * f, split.test[i] * f + f), i * f)
    assert.ok(rows.some(Number.isNaN), 'the rows carry missing values')
    writeFileSync(join(dir, GBT_MODEL_FILE), fit.modelJson)
    writeFileSync(join(dir, 'rows.f32'), rows)
    const script = [
      'import sys, json, numpy as np, xgboost as xgb',
      'd = sys.argv[1]',
      `X = np.fromfile(d + "/rows.f32", dtype="<f4").reshape(-1, ${f})`,
      `b = xgb.Booster(model_file=d + "/${GBT_MODEL_FILE}")`,
      'p = b.predict(xgb.DMatrix(X, missing=np.nan))',
      'print(json.dumps({"version": xgb.__version__, "shape": list(p.shape), "proba": p.ravel().tolist(), "best": b.attr("best_iteration")}))',
    ].join('\n')
    const py = JSON.parse(execFileSync(PYTHON, ['-c', script, dir], { encoding: 'utf8' })) as {
      shape: number[]
      proba: number[]
      best: string
    }
    assert.deepEqual(py.shape, [split.test.length, 4])
    assert.equal(py.best, String(fit.bestIteration))
    let maxDiff = 0
    for (let i = 0; i < py.proba.length; i++) maxDiff = Math.max(maxDiff, Math.abs(py.proba[i] - fit.testProba[i]))
    assert.ok(maxDiff <= 1e-6, `max |p_python - p_js| = ${maxDiff}`)
    // And the predicted classes are Python's argmax.
    for (let i = 0; i < split.test.length; i++) {
      const p = py.proba.slice(i * 4, i * 4 + 4)
      assert.equal(trained.testPred[i], p.indexOf(Math.max(...p)), `row ${i}`)
    }
  })
})
