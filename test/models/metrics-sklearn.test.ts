import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { classificationMetrics } from '../../models/metrics.ts'
import { runPython } from './knn-fixture.ts'

const PYTHON_METRICS = `
import json, warnings
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
warnings.simplefilter('ignore')
out = []
for case in json.load(open('cases.json')):
    t, p, n = case['true'], case['pred'], case['n']
    out.append({
        'macro': f1_score(t, p, average='macro'),
        'accuracy': accuracy_score(t, p),
        'per_class': list(f1_score(t, p, average=None, labels=list(range(n)), zero_division=0)),
        'confusion': confusion_matrix(t, p, labels=list(range(n))).tolist(),
    })
print(json.dumps(out))
`

describe('metrics', () => {
  const root = mkdtempSync(join(tmpdir(), 'cis490-metrics-'))
  after(() => rmSync(root, { recursive: true, force: true }))

  it("equal scikit-learn's macro F1, accuracy, per-class F1 and confusion, missing classes included", () => {
    let s = 99
    const rnd = (k: number) => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0
      return Math.floor((s / 2 ** 32) * k)
    }
    const cases = []
    for (let i = 0; i < 40; i++) {
      const n = 2 + rnd(7)
      const len = 1 + rnd(60)
      // some cases use only part of the classes in truth or predictions
      const trueClasses = 1 + rnd(n)
      const predClasses = 1 + rnd(n)
      const offset = rnd(n - predClasses + 1)
      const t = Array.from({ length: len }, () => rnd(trueClasses))
      const p = Array.from({ length: len }, (_, j) => (rnd(3) === 0 ? t[j] : offset + rnd(predClasses)))
      cases.push({ n, true: t, pred: p })
    }
    writeFileSync(join(root, 'cases.json'), JSON.stringify(cases))
    const py = runPython(PYTHON_METRICS, root) as {
      macro: number
      accuracy: number
      per_class: number[]
      confusion: number[][]
    }[]
    cases.forEach((c, i) => {
      const m = classificationMetrics(c.true, c.pred, c.n)
      assert.ok(Math.abs(m.macroF1 - py[i].macro) < 1e-12, `case ${i}: ${m.macroF1} vs ${py[i].macro}`)
      assert.ok(Math.abs(m.accuracy - py[i].accuracy) < 1e-12, `case ${i} accuracy`)
      for (const [c2, f] of m.perClassF1.entries())
        assert.ok(Math.abs(f - py[i].per_class[c2]) < 1e-12, `case ${i} class ${c2}`)
      assert.deepEqual(m.confusion, py[i].confusion)
    })
  })
})
