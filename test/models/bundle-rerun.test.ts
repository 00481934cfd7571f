import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type JobSpec, parseManifest } from '../../manifests/index.ts'
import { runTrainJob } from '../../models/train-job.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'

function job(model: string, hyper: string): JobSpec {
  const text = `[fleet]\nname = "t"\ndataset = "d"\n[[jobs]]\nmodel = "${model}"\nmode = "realistic"\nhyper = ${hyper}\nsplit = { test_hosts = ["k-gamingcom"] }\n`
  return parseManifest(text, 'rerun.toml').jobs[0]
}

function files(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]))
}

// The contract's promise: the same job on the same data gives the same bytes, so the same CID.
describe('bundles are byte-identical on a rerun', () => {
  const root = mkdtempSync(join(tmpdir(), 'cis490-rerun-'))
  const data = join(root, 'data')
  after(() => rmSync(root, { recursive: true, force: true }))
  before(async () => {
    await makeSyntheticDataset(data, { episodes: 24, windows: 8, features: 20, realisticFeatures: 14 })
  })

  const cases: [string, string][] = [
    ['gbt', '{ num_boost_round = 15, nthread = 1, subsample = 0.8, colsample_bytree = 0.8 }'],
    ['knn', '{ k = 5 }'],
    ['knn_semi', '{ k = 3, label_frac = 0.5 }'],
  ]
  for (const [model, hyper] of cases) {
    it(model, async () => {
      const spec = job(model, hyper)
      const a = await runTrainJob({ job: spec, dataDir: data, outDir: join(root, `${model}-a`) })
      const b = await runTrainJob({ job: spec, dataDir: data, outDir: join(root, `${model}-b`) })
      assert.equal(a.bundle, b.bundle)
      const fa = files(a.out)
      const fb = files(b.out)
      assert.deepEqual([...fa.keys()].sort(), [...fb.keys()].sort())
      for (const [name, bytes] of fa) assert.ok(bytes.equals(fb.get(name) as Buffer), `${model}: ${name} differs`)
      const meta = JSON.parse(fa.get('bundle.json')?.toString() ?? '{}')
      assert.equal(meta.format, 'cis490-bundle/1')
      assert.equal(meta.job_id, spec.id)
      assert.ok(meta.metrics.val_macro_f1 >= 0 && meta.metrics.val_macro_f1 <= 1)
    })
  }
})
