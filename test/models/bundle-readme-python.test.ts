import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { runCliProcess } from '../helpers/cli.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'

/** Debian's python3 (python3-xgboost, python3-sklearn), unless PYTHON says otherwise. */
const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3')
const probe = spawnSync(PYTHON, ['-c', 'import numpy, sklearn, xgboost'], { encoding: 'utf8' })
const skip = probe.status === 0 ? false : `needs ${PYTHON} with numpy, scikit-learn and xgboost`

/** The ```python blocks of a README, in order. */
function pythonBlocks(readme: string): string[] {
  return [...readme.matchAll(/```python\n([\s\S]*?)```/g)].map((m) => m[1])
}

// The Python in a bundle's README runs as written: saved as predict.py in the bundle
// directory, given a CSV of the dataset, it predicts what the bundle's own metrics say.
describe('bundle README Python snippets', { skip, timeout: 300_000 }, () => {
  let dir: string
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cis490-readme-py-'))
    await makeSyntheticDataset(join(dir, 'data'), { episodes: 20 })
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const jobs: [string, Record<string, unknown>][] = [
    ['knn', { k: 3 }],
    ['knn_semi', { k: 3 }],
    ['gbt', { num_boost_round: 10, nthread: 1 }],
  ]
  for (const [model, hyper] of jobs) {
    it(`${model}: predict.py reproduces the bundle's test accuracy on the test host's CSV`, () => {
      const jobFile = join(dir, `${model}.json`)
      writeFileSync(jobFile, JSON.stringify({ model, mode: 'oracle', hyper, split: { test_hosts: ['k-gamingcom'] } }))
      const out = join(dir, `bundle-${model}`)
      const trained = runCliProcess(['train', '--job-file', jobFile, '--data', join(dir, 'data'), '--out', out], {
        timeoutMs: 240_000,
      })
      assert.equal(trained.code, 0, trained.stderr)
      const readme = readFileSync(join(out, 'README.md'), 'utf8')
      assert.doesNotMatch(readme, /\braw_rows\b|np\.asarray\(rows/, 'no undefined names left')
      const blocks = pythonBlocks(readme)
      assert.ok(blocks.length >= 1, 'the README has Python')
      // Every block runs on its own in the bundle directory (the standardisation one only defines).
      for (const [i, code] of blocks.entries()) {
        const file = join(out, i === blocks.length - 1 ? 'predict.py' : `block${i}.py`)
        writeFileSync(file, code)
      }
      for (let i = 0; i < blocks.length - 1; i++) {
        const r = spawnSync(PYTHON, [`block${i}.py`], { cwd: out, encoding: 'utf8' })
        assert.equal(r.status, 0, `block ${i}:\n${blocks[i]}\n${r.stderr}`)
      }
      // The test split is every row of k-gamingcom: its file is exactly the test rows.
      const csv = join(dir, 'data', 'k-gamingcom.csv')
      const r = spawnSync(PYTHON, ['predict.py', csv], { cwd: out, encoding: 'utf8' })
      assert.equal(r.status, 0, r.stderr)
      const bundle = JSON.parse(readFileSync(join(out, 'bundle.json'), 'utf8'))
      const labels = readFileSync(csv, 'utf8').trim().split('\n').length - 1
      const pred = r.stdout.trim().split('\n')
      assert.equal(pred.length, labels, 'one prediction a row')
      assert.ok(
        pred.every((p) => bundle.classes.includes(p)),
        'predictions are class names',
      )
      const m = /^accuracy (\d\.\d{4}) on (\d+) rows$/m.exec(r.stderr)
      assert.ok(m !== null, r.stderr)
      assert.equal(Number(m[2]), labels)
      assert.equal(m[1], bundle.metrics.test_accuracy.toFixed(4), 'the same accuracy as the bundle reports')
    })
  }
})
