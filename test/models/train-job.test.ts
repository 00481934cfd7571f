import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { ZodError } from 'zod'
import { type JobSpec, loadJobFile } from '../../manifests/index.ts'
import { importBundle } from '../../models/bundle/index.ts'
import { DatasetError, loadDataset } from '../../models/dataset/index.ts'
import { OutputPathError } from '../../models/output-path.ts'
import { fitScaler, splitRows } from '../../models/split.ts'
import { OutputExistsError, runTrainJob, TrainInputError, type TrainJobRequest } from '../../models/train-job.ts'
import type { TrainContext, Trainer } from '../../models/types.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'

/** A fake trainer: predicts the majority train class, remembers its context. */
function majorityTrainer(seen: TrainContext[] = []): Trainer {
  return async (ctx) => {
    seen.push(ctx)
    const counts = new Array<number>(ctx.data.classes.length).fill(0)
    for (const r of ctx.split.train) counts[ctx.data.y[r]]++
    const top = counts.indexOf(Math.max(...counts))
    ctx.progress('fake: fitted')
    return {
      files: new Map([['model.json', new TextEncoder().encode(JSON.stringify({ top }))]]),
      valPred: new Int32Array(ctx.split.val.length).fill(top),
      testPred: new Int32Array(ctx.split.test.length).fill(top),
      extraBundle: { top },
      runInfo: { fake: true },
      readme: '## model.json\n\n`top` is the predicted class index.',
    }
  }
}

describe('runTrainJob', () => {
  const root = mkdtempSync(join(tmpdir(), 'cis490-trainjob-'))
  after(() => rmSync(root, { recursive: true, force: true }))
  const dataDir = join(root, 'data')
  let n = 0
  const jobFile = (job: unknown) => {
    const file = join(root, `job${n++}.json`)
    writeFileSync(file, JSON.stringify(job))
    return file
  }
  const knnJob = (extra: Record<string, unknown> = {}): JobSpec =>
    loadJobFile(jobFile({ model: 'knn', mode: 'realistic', split: { test_hosts: ['k-gamingcom'] }, ...extra }))
  /** Names in `root` that look like temp bundle dirs. */
  const temps = (dir = root) => readdirSync(dir).filter((f) => f.includes('.tmp-'))

  before(async () => {
    await makeSyntheticDataset(dataDir)
  })

  it('trains, scores and writes the bundle; the context has hyper defaults, the split and the scaler', async () => {
    const seen: TrainContext[] = []
    const lines: string[] = []
    const store = new MemoryBlockstore()
    const out = join(root, 'ok')
    const r = await runTrainJob(
      { job: knnJob(), dataDir, outDir: out },
      { trainer: majorityTrainer(seen), blockstore: store, progress: (l) => lines.push(l) },
    )
    assert.deepEqual(readdirSync(out).sort(), ['README.md', 'bundle.json', 'model.json', 'scaler.json'])
    assert.deepEqual(temps(), [])
    const ctx = seen[0]
    assert.deepEqual(ctx.job.hyper, { k: 10 })
    const data = await loadDataset(dataDir, 'realistic')
    const split = splitRows(data, { test_hosts: ['k-gamingcom'], seed: 0 })
    assert.deepEqual(ctx.split, split)
    assert.deepEqual(ctx.scaler, fitScaler(data, split.train))
    assert.equal(r.bundle, await importBundle(out, new MemoryBlockstore()))
    assert.ok((await store.has((await import('multiformats/cid')).CID.parse(r.bundle))) === true)
    assert.equal(r.job_id, knnJob().id)
    assert.deepEqual(r.rows, { train: split.train.length, val: split.val.length, test: split.test.length })
    const meta = JSON.parse(readFileSync(join(out, 'bundle.json'), 'utf8'))
    assert.equal(meta.metrics.test_macro_f1, r.metrics.test_macro_f1)
    assert.deepEqual(meta.hyper, { k: 10 })
    assert.equal(r.run.fake, true)
    assert.ok(lines.includes('fake: fitted') && lines.some((l) => l.startsWith('split: ')))
  })

  it('gives byte-identical bundles and the same CID when run twice', async () => {
    const a = await runTrainJob(
      { job: knnJob(), dataDir, outDir: join(root, 'twice-a') },
      { trainer: majorityTrainer() },
    )
    const b = await runTrainJob(
      { job: knnJob(), dataDir, outDir: join(root, 'twice-b') },
      { trainer: majorityTrainer() },
    )
    assert.equal(a.bundle, b.bundle)
    for (const f of readdirSync(join(root, 'twice-a')))
      assert.deepEqual(readFileSync(join(root, 'twice-a', f)), readFileSync(join(root, 'twice-b', f)))
  })

  it('writes no scaler for gbt (raw features)', async () => {
    const job = loadJobFile(jobFile({ model: 'gbt', mode: 'oracle', split: { test_hosts: ['elliott-thinkpad'] } }))
    await runTrainJob({ job, dataDir, outDir: join(root, 'gbt') }, { trainer: majorityTrainer() })
    assert.deepEqual(readdirSync(join(root, 'gbt')).sort(), ['README.md', 'bundle.json', 'model.json'])
  })

  it('refuses empty or impossible splits, naming the hosts', async () => {
    const run = (job: JobSpec) =>
      runTrainJob({ job, dataDir, outDir: join(root, `never${n++}`) }, { trainer: majorityTrainer() })
    const refuses = (job: JobSpec, pattern: RegExp) =>
      assert.rejects(run(job), (err: unknown) => err instanceof DatasetError && pattern.test(err.message))
    await refuses(
      knnJob({ split: { test_hosts: ['nohost'] } }),
      /split\.test_hosts: host "nohost" has no rows \(dataset hosts: elliott-thinkpad, k-gamingcom\)/,
    )
    await refuses(knnJob({ split: {} }), /empty test split: split\.test_hosts is \(none\)/)
    await refuses(
      knnJob({ split: { test_hosts: ['k-gamingcom'], val_frac: 0 } }),
      /empty val split: no episode of train hosts elliott-thinkpad fell into val at val_frac 0/,
    )
    await refuses(
      knnJob({ split: { test_hosts: ['k-gamingcom', 'elliott-thinkpad'] } }),
      /empty train split: no rows left .* after test hosts k-gamingcom, elliott-thinkpad/,
    )
    await refuses(knnJob({ train_hosts: ['ghost'] }), /train_hosts: host "ghost" has no rows/)
    await refuses(knnJob({ mode: 'nomode' }), /unknown mode "nomode"; known modes: oracle, realistic/)
    assert.deepEqual(temps(), [])
  })

  it('refuses an existing --out unless forced, then replaces it (only an earlier bundle or an empty dir)', async () => {
    const out = join(root, 'exists')
    mkdirSync(out)
    await runTrainJob({ job: knnJob(), dataDir, outDir: out, force: true }, { trainer: majorityTrainer() })
    await assert.rejects(
      runTrainJob({ job: knnJob(), dataDir, outDir: out }, { trainer: majorityTrainer() }),
      OutputExistsError,
    )
    writeFileSync(join(out, 'model.json'), 'older')
    await runTrainJob({ job: knnJob(), dataDir, outDir: out, force: true }, { trainer: majorityTrainer() })
    assert.deepEqual(readdirSync(out).sort(), ['README.md', 'bundle.json', 'model.json', 'scaler.json'])
    assert.notEqual(readFileSync(join(out, 'model.json'), 'utf8'), 'older')
    assert.deepEqual(temps(), [])
  })

  it('never replaces a file or a directory that is not a bundle, even with force', async () => {
    const mine = join(root, 'mine')
    mkdirSync(mine)
    writeFileSync(join(mine, 'thesis.tex'), 'precious')
    const file = join(root, 'notes.txt')
    writeFileSync(file, 'precious')
    let trained = false
    const trainer: Trainer = async (ctx) => {
      trained = true
      return majorityTrainer()(ctx)
    }
    await assert.rejects(
      runTrainJob({ job: knnJob(), dataDir, outDir: mine, force: true }, { trainer }),
      (err: unknown) => err instanceof OutputExistsError && /mine: a directory that is not a bundle/.test(err.message),
    )
    await assert.rejects(
      runTrainJob({ job: knnJob(), dataDir, outDir: file, force: true }, { trainer }),
      (err: unknown) => err instanceof OutputExistsError && /notes\.txt: is a file/.test(err.message),
    )
    assert.equal(trained, false)
    assert.equal(readFileSync(join(mine, 'thesis.tex'), 'utf8'), 'precious')
    assert.equal(readFileSync(file, 'utf8'), 'precious')
  })

  it('checks --out, --data and --backend before loading or training anything', async () => {
    let trained = false
    const trainer: Trainer = async (ctx) => {
      trained = true
      return majorityTrainer()(ctx)
    }
    const file = join(root, 'a-file')
    writeFileSync(file, 'x')
    const refuses = (req: Partial<TrainJobRequest>, cls: new (...a: never[]) => Error, re: RegExp) =>
      assert.rejects(
        runTrainJob({ job: knnJob(), dataDir, outDir: join(root, `never${n++}`), ...req }, { trainer }),
        (err: unknown) => err instanceof cls && re.test(err.message),
      )
    await refuses({ outDir: join(file, 'out') }, OutputPathError, /a-file is a file, not a directory/)
    await refuses({ outDir: join(file, 'deeper', 'out') }, OutputPathError, /a-file is a file, not a directory/)
    await refuses({ outDir: '/proc/cis490-out' }, OutputPathError, /cannot create anything in \/proc/)
    await refuses({ outDir: '' }, OutputPathError, /expected a path, got an empty string/)
    await refuses({ dataDir: join(root, 'no-data') }, TrainInputError, /--data .*no-data: no such directory/)
    await refuses({ dataDir: file }, TrainInputError, /--data .*a-file: is a file/)
    await refuses({ dataDir: root }, TrainInputError, /no dataset\.toml/)
    await refuses(
      { backend: 'bogus' },
      TrainInputError,
      /--backend "bogus": unknown tfjs backend; use one of wasm, cpu/,
    )
    await refuses({ job: { ...knnJob(), hyper: { k: 0 } } }, ZodError, /k/)
    assert.equal(trained, false)
    assert.deepEqual(temps(), [])
  })

  it('leaves no --out and no temp dir when the trainer fails or the job is aborted', async () => {
    const failing: Trainer = async () => {
      throw new Error('boom')
    }
    await assert.rejects(
      runTrainJob({ job: knnJob(), dataDir, outDir: join(root, 'fail') }, { trainer: failing }),
      /boom/,
    )
    const controller = new AbortController()
    // never finishes on its own and ignores the signal: the pipeline must still stop
    const stuck: Trainer = () => {
      setTimeout(() => controller.abort(new Error('stop now')), 20)
      return new Promise(() => {})
    }
    await assert.rejects(
      runTrainJob(
        { job: knnJob(), dataDir, outDir: join(root, 'aborted') },
        { trainer: stuck, signal: controller.signal },
      ),
      /stop now/,
    )
    assert.deepEqual(
      readdirSync(root).filter((f) => f === 'fail' || f === 'aborted'),
      [],
    )
    assert.deepEqual(temps(), [])
  })

  it('removes temp dirs that killed runs left behind, keeping live ones', async () => {
    const parent = join(root, 'stale')
    mkdirSync(parent)
    const dead = join(parent, '.out.tmp-4194399-abcd') // above Linux pid_max: no such process
    const live = join(parent, `.out.tmp-${process.ppid}-beef`)
    mkdirSync(dead)
    mkdirSync(live)
    await runTrainJob({ job: knnJob(), dataDir, outDir: join(parent, 'out') }, { trainer: majorityTrainer() })
    assert.deepEqual(readdirSync(parent).sort(), ['.out.tmp-' + process.ppid + '-beef', 'out'])
  })
})

describe('loadJobFile', () => {
  const root = mkdtempSync(join(tmpdir(), 'cis490-jobfile-'))
  after(() => rmSync(root, { recursive: true, force: true }))
  const file = join(root, 'job.json')
  const load = (job: unknown) => {
    writeFileSync(file, typeof job === 'string' ? job : JSON.stringify(job))
    return loadJobFile(file)
  }

  it('computes the manifest job id and fills constraints', () => {
    const job = load({ model: 'knn', mode: 'realistic' })
    // same vector as test/manifests/job-id.test.ts
    assert.equal(job.id, '69802c6e3b3b98d42efe8422f034a7442414d9ba3d396bea219b7b8699cacb95')
    assert.equal(job.max_attempts, 3)
    assert.deepEqual(job.hyper, {})
  })

  it('names the file and the field of every error', () => {
    assert.throws(
      () => load({ model: 'knn', mode: 'realistic', hyper: { k: 'ten' } }),
      /job\.json: hyper\.k: expected a positive integer/,
    )
    assert.throws(
      () => load({ model: 'knn', mode: 'realistic', hyper: { kk: 1 } }),
      /job\.json: hyper\.kk: unknown key "kk"/,
    )
    assert.throws(
      () => load({ model: 'knn', mode: 'realistic', split: { val_frac: 2 } }),
      /job\.json: split\.val_frac: /,
    )
    assert.throws(() => load({ model: 'svm', mode: 'realistic' }), /job\.json: model: expected one of gbt, knn/)
    assert.throws(() => load({ model: 'knn', mode: 'realistic', colour: 1 }), /job\.json: colour: unknown key/)
    assert.throws(() => load('{"model": '), /job\.json: invalid JSON/)
  })
})
