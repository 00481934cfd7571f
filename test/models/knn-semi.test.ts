import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  decodeKnnFile,
  KNN_LABELLER_FILE,
  KNN_MODEL_FILE,
  selectLabelled,
  trainKnnSemi,
} from '../../models/knn/index.ts'
import { macroF1 } from '../../models/metrics.ts'
import { labelsOf, standardize } from '../../models/split.ts'
import { bruteKnn, knnContext, makeKnnDataset, runPython, writeArray } from './knn-fixture.ts'

let dir: string
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'knn-semi-test-'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

const data = makeKnnDataset({ episodes: 16, windows: 10, features: 10, classes: 4, seed: 11 })

describe('selectLabelled', () => {
  test('matches the contract rule computed in Python', () => {
    const ctx = knnContext(data, 'knn_semi', {}, 5)
    const keys = Array.from(
      ctx.split.train,
      (r) => `${data.hosts[data.hostOf[r]]}:${data.episodes[data.episodeOf[r]]}:${data.window[r]}`,
    )
    writeFileSync(join(dir, 'keys.json'), JSON.stringify(keys))
    const out = runPython(
      `import hashlib, json
keys = json.load(open("keys.json"))
u = lambda key: int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64
print(json.dumps([i for i, k in enumerate(keys) if u(f"5:label:{k}") < 0.3]))
`,
      dir,
    )
    const sel = selectLabelled(data, ctx.split.train, 5, 0.3)
    assert.deepEqual(Array.from(sel.labelled), out)
    assert.equal(sel.labelled.length + sel.unlabelled.length, ctx.split.train.length)
    assert.ok(
      sel.labelled.length > 0.15 * ctx.split.train.length && sel.labelled.length < 0.45 * ctx.split.train.length,
    )
  })
})

describe('trainKnnSemi', () => {
  test('the whole pipeline matches scikit-learn: labels, pseudo-labels, labeller and final predictions', async () => {
    const hyper = { k: 5, label_frac: 0.25, confidence_threshold: 0.8 }
    const ctx = knnContext(data, 'knn_semi', hyper, 3)
    const model = await trainKnnSemi(ctx)
    const keys = Array.from(
      ctx.split.train,
      (r) => `${data.hosts[data.hostOf[r]]}:${data.episodes[data.episodeOf[r]]}:${data.window[r]}`,
    )
    writeFileSync(join(dir, 'semi_keys.json'), JSON.stringify(keys))
    for (const part of ['train', 'val', 'test'] as const) {
      writeArray(dir, `semi_${part}_X.bin`, standardize(data, ctx.split[part], ctx.scaler))
      writeArray(dir, `semi_${part}_y.bin`, labelsOf(data, ctx.split[part]))
    }
    const f = data.features.length
    const out = runPython(
      `import hashlib, json
import numpy as np
from sklearn.neighbors import KNeighborsClassifier
from sklearn.metrics import f1_score
f, k, frac, thr, seed = ${f}, 5, 0.25, 0.8, 3
load = lambda name, dt: np.fromfile(name, dtype=dt)
X = {p: load(f"semi_{p}_X.bin", "<f4").reshape(-1, f).astype(np.float64) for p in ("train", "val", "test")}
y = {p: load(f"semi_{p}_y.bin", "<i4") for p in ("train", "val", "test")}
u = lambda key: int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64
lab = np.array([u(f"{seed}:label:{key}") < frac for key in json.load(open("semi_keys.json"))])
labeller = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(X["train"][lab], y["train"][lab])
share = labeller.predict_proba(X["train"][~lab]).max(axis=1)
pseudo = labeller.predict(X["train"][~lab])
keep = share >= thr
Xf = np.concatenate([X["train"][lab], X["train"][~lab][keep]])
yf = np.concatenate([y["train"][lab], pseudo[keep]])
final = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(Xf, yf)
print(json.dumps({
  "labelled": int(lab.sum()), "unlabelled": int((~lab).sum()), "kept": int(keep.sum()),
  "val": final.predict(X["val"]).tolist(), "test": final.predict(X["test"]).tolist(),
  "labeller_val_f1": f1_score(y["val"], labeller.predict(X["val"]), average="macro"),
  "labeller_test_f1": f1_score(y["test"], labeller.predict(X["test"]), average="macro"),
}))
`,
      dir,
    ) as Record<string, number | number[]>
    const m = model.extraMetrics!
    assert.equal(m.labelled_rows, out.labelled)
    assert.equal(m.unlabelled_rows, out.unlabelled)
    assert.equal(m.pseudo_labelled_rows, out.kept)
    assert.ok((out.kept as number) > 0 && (out.kept as number) < (out.unlabelled as number), 'threshold 0.8 keeps some')
    assert.deepEqual(Array.from(model.valPred), out.val)
    assert.deepEqual(Array.from(model.testPred), out.test)
    assert.ok(Math.abs((m.labeller_val_macro_f1 as number) - (out.labeller_val_f1 as number)) < 1e-12)
    assert.ok(Math.abs((m.labeller_test_macro_f1 as number) - (out.labeller_test_f1 as number)) < 1e-12)
    const nc = data.classes.length
    assert.ok(macroF1(labelsOf(data, ctx.split.val), model.valPred, nc) > 0.5, 'the fixture is learnable')
  })

  test('a pseudo-label is kept exactly when its vote share reaches the threshold', async () => {
    const k = 4
    const kept: number[] = []
    for (const threshold of [0.25, 0.5, 0.75, 1]) {
      const ctx = knnContext(data, 'knn_semi', { k, confidence_threshold: threshold }, 1)
      const model = await trainKnnSemi(ctx)
      // Oracle: brute-force labeller votes on the unlabelled rows.
      const sel = selectLabelled(data, ctx.split.train, 1, 0.2)
      const X = standardize(data, ctx.split.train, ctx.scaler)
      const y = labelsOf(data, ctx.split.train)
      const f = data.features.length
      const pick = (pos: Int32Array) => {
        const out = new Float32Array(pos.length * f)
        for (let i = 0; i < pos.length; i++) out.set(X.subarray(pos[i] * f, pos[i] * f + f), i * f)
        return out
      }
      const nn = bruteKnn(pick(sel.labelled), pick(sel.unlabelled), f, k)
      let expected = 0
      for (let u = 0; u < sel.unlabelled.length; u++) {
        const votes = new Map<number, number>()
        for (let c = 0; c < k; c++) {
          const label = y[sel.labelled[nn[u * k + c]]]
          votes.set(label, (votes.get(label) ?? 0) + 1)
        }
        if (Math.max(...votes.values()) / k >= threshold) expected++
      }
      assert.equal(model.extraMetrics!.pseudo_labelled_rows, expected, `threshold ${threshold}`)
      const final = decodeKnnFile(model.files.get(KNN_MODEL_FILE)!)
      assert.equal(final.header.rows, sel.labelled.length + expected)
      assert.equal(
        final.origin!.reduce((s, v) => s + v, 0),
        expected,
        'origin marks the pseudo-labelled rows',
      )
      kept.push(expected)
      if (threshold === 0.25) assert.equal(expected, sel.unlabelled.length, 'a threshold of 1/k keeps every row')
    }
    assert.ok(kept[0] > kept[3], `stricter thresholds keep fewer rows: ${kept}`)
  })

  test('the same job twice writes byte-identical labeller and final model files', async () => {
    const a = await trainKnnSemi(knnContext(data, 'knn_semi', {}, 2))
    const ctx = knnContext(data, 'knn_semi', {}, 2)
    const b = await trainKnnSemi(ctx)
    assert.deepEqual([...b.files.keys()].sort(), [KNN_LABELLER_FILE, KNN_MODEL_FILE].sort())
    for (const name of b.files.keys()) assert.deepEqual(a.files.get(name), b.files.get(name), name)
    const labeller = decodeKnnFile(b.files.get(KNN_LABELLER_FILE)!)
    assert.equal(labeller.header.role, 'labeller')
    assert.equal(labeller.header.rows, b.extraMetrics!.labelled_rows)
    assert.equal(labeller.origin, undefined)
    const final = decodeKnnFile(b.files.get(KNN_MODEL_FILE)!)
    assert.equal(final.header.role, 'model')
    assert.deepEqual(final.header.extra, {
      label_frac: 0.2,
      confidence_threshold: 0.6,
      labelled_rows: b.extraMetrics!.labelled_rows,
      unlabelled_rows: b.extraMetrics!.unlabelled_rows,
      pseudo_labelled_rows: b.extraMetrics!.pseudo_labelled_rows,
    })
    assert.match(b.readme, /labeller\.knn\.bin/)
  })

  test('too few labelled rows for k is an error naming label_frac and k', async () => {
    await assert.rejects(
      trainKnnSemi(knnContext(data, 'knn_semi', { k: 50, label_frac: 0.05 }, 0)),
      /labelled \(label_frac = 0\.05\), fewer than hyper\.k = 50; raise label_frac or lower k/,
    )
  })
})
