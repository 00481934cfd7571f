import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  buildKnnIndex,
  decodeKnnFile,
  jsDotKernel,
  KNN_MODEL_FILE,
  KNN_PYTHON_LOADER,
  openBlasKernel,
  searchKnn,
  trainKnn,
  voteNeighbours,
} from '../../models/knn/index.ts'
import { macroF1 } from '../../models/metrics.ts'
import { fitScaler, labelsOf, standardize } from '../../models/split.ts'
import type { Dataset } from '../../models/types.ts'
import { bruteKnn, gauss, knnContext, makeKnnDataset, prng, runPython, writeArray } from './knn-fixture.ts'

const blas = openBlasKernel()

let dir: string
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'knn-test-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

function randomMatrix(rows: number, f: number, seed: number): Float32Array {
  const rnd = prng(seed)
  return Float32Array.from({ length: rows * f }, () => gauss(rnd))
}

describe('searchKnn', () => {
  test('OpenBLAS loads (libopenblas0 is installed where the tests run)', () => {
    assert.ok(blas.kernel, blas.reason)
  })

  test('OpenBLAS + SIMD scan and the JS kernel + JS scan give the exact float64 top k, across block edges', async () => {
    const f = 17
    const X = randomMatrix(1500, f, 2)
    const Q = randomMatrix(90, f, 3)
    const index = buildKnnIndex(X, f)
    const expected = bruteKnn(X, Q, f, 7)
    const opts = { queryBlock: 13, rowBlock: 200 }
    const fromBlas = await searchKnn(index, Q, 7, blas.kernel!, opts)
    const fromJs = await searchKnn(index, Q, 7, jsDotKernel, { ...opts, simd: false })
    assert.deepEqual(fromBlas.indices, expected)
    assert.deepEqual(fromJs.indices, expected)
    assert.deepEqual(fromJs.sqDist, fromBlas.sqDist)
    for (let i = 1; i < 7; i++) assert.ok(fromBlas.sqDist[i] >= fromBlas.sqDist[i - 1], 'nearest first')
  })

  test('exact duplicates and ties resolve to the smaller row through the second pass', async () => {
    const f = 9
    const base = randomMatrix(40, f, 4)
    // 40 distinct rows, each repeated 30 times, interleaved; queries sit exactly on train rows.
    const X = new Float32Array(1200 * f)
    for (let r = 0; r < 1200; r++) X.set(base.subarray((r % 40) * f, (r % 40) * f + f), r * f)
    const Q = new Float32Array(base.subarray(0, 25 * f))
    const index = buildKnnIndex(X, f)
    const expected = bruteKnn(X, Q, f, 5)
    const fromBlas = await searchKnn(index, Q, 5, blas.kernel!, { rowBlock: 256 })
    const fromJs = await searchKnn(index, Q, 5, jsDotKernel, { rowBlock: 256 })
    assert.ok(fromBlas.rescanned > 0, 'ties must go through the exact second pass')
    assert.deepEqual(fromBlas.indices, expected)
    assert.deepEqual(fromJs.indices, expected)
    assert.deepEqual(Array.from(fromBlas.indices.subarray(0, 5)), [0, 40, 80, 120, 160])
  })

  test('near ties closer than float32 resolution rank by the exact distance', async () => {
    // Rows at float32 neighbours of 1 on a large offset: float32 GEMM cannot order them.
    const f = 4
    const X = new Float32Array(64 * f)
    for (let r = 0; r < 64; r++) {
      X[r * f] = 1000 + (63 - r) * 2 ** -13
      X[r * f + 1] = 1000
    }
    const Q = Float32Array.from([0, 1000, 0, 0])
    const res = await searchKnn(buildKnnIndex(X, f), Q, 3, blas.kernel!)
    assert.deepEqual(Array.from(res.indices), Array.from(bruteKnn(X, Q, f, 3)))
    assert.deepEqual(Array.from(res.indices), [63, 62, 61])
  })

  test('rejects k above the row count and honours an aborted signal', async () => {
    const index = buildKnnIndex(randomMatrix(5, 3, 5), 3)
    await assert.rejects(searchKnn(index, randomMatrix(2, 3, 6), 6, jsDotKernel), /k = 6 exceeds the 5 rows/)
    const ac = new AbortController()
    ac.abort(new Error('stop now'))
    await assert.rejects(searchKnn(index, randomMatrix(2, 3, 6), 2, jsDotKernel, { signal: ac.signal }), /stop now/)
  })
})

describe('voteNeighbours', () => {
  test('uniform vote, ties to the smallest class index', () => {
    const neighbours = {
      queries: 3,
      k: 4,
      indices: Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 0, 2, 4, 6]),
      sqDist: new Float64Array(12),
      rescanned: 0,
    }
    const labels = Int32Array.from([2, 1, 2, 1, 3, 3, 3, 0])
    const votes = voteNeighbours(neighbours, labels, 4)
    assert.deepEqual(Array.from(votes.pred), [1, 3, 2])
    assert.deepEqual(Array.from(votes.topVotes), [2, 3, 2])
  })
})

/** A 1-D dataset with vote ties: train points 1, 2, 3, 4 away from the test points. */
function tieDataset(): Dataset {
  const xs = [1, 2, 3, 4, 21, 22, 23, 24, 0, 20, 0, 20]
  const ys = [2, 0, 2, 0, 1, 3, 3, 1, 0, 0, 0, 0]
  const rows = xs.length
  return {
    name: 'ties',
    mode: 'realistic',
    features: ['x'],
    classes: ['a', 'b', 'c', 'd'],
    rows,
    X: Float32Array.from(xs),
    y: Int32Array.from(ys),
    hosts: ['h-train', 'h-test'],
    hostOf: Int32Array.from(xs, (_, i) => (i < 10 ? 0 : 1)),
    episodes: ['e0'],
    episodeOf: new Int32Array(rows),
    window: Int32Array.from(xs, (_, i) => i),
    schemaHash: 'x',
  }
}

describe('trainKnn', () => {
  test('matches scikit-learn KNeighborsClassifier(brute) and its macro F1; the README loader reproduces it', async () => {
    const data = makeKnnDataset({ episodes: 14, windows: 10, features: 12, classes: 4 })
    const ctx = knnContext(data, 'knn', { k: 5 })
    const model = await trainKnn(ctx)
    const f = data.features.length
    writeArray(dir, 'train_X.bin', standardize(data, ctx.split.train, ctx.scaler))
    writeArray(dir, 'train_y.bin', labelsOf(data, ctx.split.train))
    writeArray(dir, 'val_X.bin', standardize(data, ctx.split.val, ctx.scaler))
    writeArray(dir, 'val_y.bin', labelsOf(data, ctx.split.val))
    writeArray(dir, 'test_X.bin', standardize(data, ctx.split.test, ctx.scaler))
    writeArray(dir, 'test_y.bin', labelsOf(data, ctx.split.test))
    const raw = new Float64Array(ctx.split.val.length * f)
    ctx.split.val.forEach((r, i) => {
      for (let j = 0; j < f; j++) raw[i * f + j] = data.X[r * f + j]
    })
    writeFileSync(join(dir, 'val_raw.bin'), new Uint8Array(raw.buffer))
    writeFileSync(join(dir, KNN_MODEL_FILE), model.files.get(KNN_MODEL_FILE)!)
    const out = runPython(
      `${KNN_PYTHON_LOADER}
import json
import numpy as np
from sklearn.metrics import f1_score
f = ${f}
load = lambda name, dt: np.fromfile(name, dtype=dt)
Xtr = load("train_X.bin", "<f4").reshape(-1, f).astype(np.float64)
ytr = load("train_y.bin", "<i4")
clf = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(Xtr, ytr)
res = {}
for part in ("val", "test"):
    X = load(part + "_X.bin", "<f4").reshape(-1, f).astype(np.float64)
    y = load(part + "_y.bin", "<i4")
    p = clf.predict(X)
    res[part] = p.tolist()
    res[part + "_f1"] = f1_score(y, p, average="macro")
header, clf2, standardise = knn_classifier("${KNN_MODEL_FILE}")
raw = np.fromfile("val_raw.bin", dtype="<f8").reshape(-1, f)
res["readme_val"] = clf2.predict(standardise(raw)).tolist()
res["k"] = header["k"]
print(json.dumps(res))
`,
      dir,
    ) as Record<string, number[] | number>
    assert.deepEqual(Array.from(model.valPred), out.val)
    assert.deepEqual(Array.from(model.testPred), out.test)
    assert.deepEqual(Array.from(model.valPred), out.readme_val)
    assert.equal(out.k, 5)
    const nc = data.classes.length
    const ours = [
      macroF1(labelsOf(data, ctx.split.val), model.valPred, nc),
      macroF1(labelsOf(data, ctx.split.test), model.testPred, nc),
    ]
    assert.ok(Math.abs(ours[0] - (out.val_f1 as number)) < 1e-12, `val macro F1 ${ours[0]} vs ${out.val_f1}`)
    assert.ok(Math.abs(ours[1] - (out.test_f1 as number)) < 1e-12, `test macro F1 ${ours[1]} vs ${out.test_f1}`)
    assert.ok(ours[0] > 0.5, `the fixture is learnable (val macro F1 ${ours[0]})`)
    assert.ok(
      ctx.lines.some((l) => /search: OpenBLAS/.test(l)),
      ctx.lines.join('\n'),
    )
    assert.equal(typeof model.runInfo?.predict_seconds, 'number')
  })

  test('vote ties go to the smallest class index, as in scikit-learn', async () => {
    const data = tieDataset()
    const ctx = tieContext(data, 4)
    const k4 = await trainKnn(ctx)
    // Test point 0: neighbours 1,2,3,4 labelled c,a,c,a -> a/c tie -> a (0).
    // Test point 20: neighbours 21..24 labelled b,d,d,b -> b/d tie -> b (1).
    assert.deepEqual(Array.from(k4.testPred), [0, 1])
    const k2 = await trainKnn(tieContext(data, 2))
    assert.deepEqual(Array.from(k2.testPred), [0, 1])
    const X = data.X
    writeArray(dir, 'tie_X.bin', X)
    writeArray(dir, 'tie_y.bin', data.y)
    const out = runPython(
      `import json, numpy as np
from sklearn.neighbors import KNeighborsClassifier
X = np.fromfile("tie_X.bin", dtype="<f4").astype(np.float64).reshape(-1, 1)
y = np.fromfile("tie_y.bin", dtype="<i4")
print(json.dumps([KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(X[:8], y[:8]).predict(X[10:]).tolist() for k in (4, 2)]))
`,
      dir,
    )
    assert.deepEqual(out, [Array.from(k4.testPred), Array.from(k2.testPred)])
  })

  test('the same job twice writes byte-identical files that decode to the standardised train rows', async () => {
    const data = makeKnnDataset({ seed: 7 })
    const a = await trainKnn(knnContext(data, 'knn'))
    const ctx = knnContext(data, 'knn')
    const b = await trainKnn(ctx)
    assert.deepEqual([...a.files.keys()], [KNN_MODEL_FILE])
    assert.deepEqual(a.files.get(KNN_MODEL_FILE), b.files.get(KNN_MODEL_FILE))
    const file = decodeKnnFile(b.files.get(KNN_MODEL_FILE)!)
    assert.equal(file.header.k, 10)
    assert.equal(file.header.rows, ctx.split.train.length)
    assert.deepEqual(file.header.classes, data.classes)
    assert.deepEqual(file.X, standardize(data, ctx.split.train, ctx.scaler))
    assert.deepEqual(file.y, labelsOf(data, ctx.split.train))
    assert.deepEqual(file.mean, ctx.scaler.mean)
    assert.deepEqual(file.std, ctx.scaler.std)
    const bytes = b.files.get(KNN_MODEL_FILE)!
    const hlen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true)
    assert.equal((12 + hlen) % 64, 0, 'sections start 64-byte aligned')
  })

  test('errors name the bad hyper', async () => {
    const data = tieDataset()
    await assert.rejects(trainKnn(tieContext(data, 9)), /hyper\.k = 9 exceeds the 8 train rows/)
  })

  test('without OpenBLAS it warns once and predicts the same with the JS kernel', async () => {
    const data = makeKnnDataset({ seed: 3, episodes: 6 })
    const withBlas = await trainKnn(knnContext(data, 'knn', { k: 3 }))
    const script = join(dir, 'no-blas.mts')
    const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
    writeFileSync(
      script,
      `import { trainKnn } from ${JSON.stringify(here('../../models/knn/index.ts'))}
import { knnContext, makeKnnDataset } from ${JSON.stringify(here('./knn-fixture.ts'))}
const ctx = knnContext(makeKnnDataset({ seed: 3, episodes: 6 }), 'knn', { k: 3 })
const m = await trainKnn(ctx)
console.log(JSON.stringify({ lines: ctx.lines, val: Array.from(m.valPred), test: Array.from(m.testPred), backend: m.runInfo?.backend }))
`,
    )
    const out = JSON.parse(
      execFileSync(process.execPath, [script], {
        encoding: 'utf8',
        env: { ...process.env, OPENBLAS_LIBRARY: join(dir, 'no-such-libopenblas.so') },
      }),
    )
    assert.equal(out.backend, 'js')
    assert.equal(out.lines.filter((l: string) => /warning: OpenBLAS not found/.test(l)).length, 1)
    assert.deepEqual(out.val, Array.from(withBlas.valPred))
    assert.deepEqual(out.test, Array.from(withBlas.testPred))
  })
})

/** The tie dataset with a fixed split: rows 0-7 train, 8-9 val, 10-11 test. */
function tieContext(data: Dataset, k: number) {
  const split = {
    train: Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]),
    val: Int32Array.from([8, 9]),
    test: Int32Array.from([10, 11]),
  }
  return { ...knnContext(data, 'knn', { k }), split, scaler: fitScaler(data, split.train) }
}
