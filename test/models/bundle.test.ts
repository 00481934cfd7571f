import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import {
  assembleBundle,
  BundleError,
  importBundle,
  readBundle,
  SchemaMismatchError,
  writeBundleFiles,
} from '../../models/bundle/index.ts'
import { loadDataset } from '../../models/dataset/index.ts'
import { classificationMetrics } from '../../models/metrics.ts'
import { fitScaler, labelsOf, splitRows } from '../../models/split.ts'
import type { Dataset, Split, TrainedModel } from '../../models/types.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'

const JOB_ID = 'ab'.repeat(32)
const SPLIT_PARAMS = { test_hosts: ['k-gamingcom'], train_hosts: [], val_frac: 0.2, seed: 0 }

/** A deterministic fake trainer's output: predicts (row index mod classes). */
function fakeTrained(data: Dataset, split: Split, extra: Partial<TrainedModel> = {}): TrainedModel {
  const pred = (rows: Int32Array) => Int32Array.from(rows, (r) => (r * 7) % data.classes.length)
  return {
    files: new Map([
      ['model.bin', new Uint8Array([1, 2, 3, 4])],
      ['weights/part-1.bin', new Uint8Array(300_000).fill(9)],
    ]),
    valPred: pred(split.val),
    testPred: pred(split.test),
    extraMetrics: { zeta: 1, alpha: { b: 2, a: 1 } },
    extraBundle: { rounds: 3, best: 2 },
    readme: '## Loading model.bin\n\nRead four bytes.',
    ...extra,
  }
}

describe('bundles', () => {
  const root = mkdtempSync(join(tmpdir(), 'cis490-bundle-'))
  after(() => rmSync(root, { recursive: true, force: true }))
  let data: Dataset
  let split: Split

  before(async () => {
    await makeSyntheticDataset(join(root, 'data'))
    data = await loadDataset(join(root, 'data'), 'realistic')
    split = splitRows(data, SPLIT_PARAMS)
  })

  const assemble = (trained = fakeTrained(data, split), withScaler = true) =>
    assembleBundle({
      jobId: JOB_ID,
      model: 'knn',
      hyper: { k: 10 },
      data,
      split,
      splitParams: SPLIT_PARAMS,
      scaler: withScaler ? fitScaler(data, split.train) : undefined,
      trained,
    })

  let n = 0
  const write = async (files: ReadonlyMap<string, Uint8Array>) => {
    const dir = join(root, `b${n++}`)
    mkdirSync(dir)
    await writeBundleFiles(dir, files)
    return dir
  }

  it('writes bundle.json in the contract order with sklearn-style metrics of the predictions', () => {
    const trained = fakeTrained(data, split)
    const { files } = assemble(trained)
    const meta = JSON.parse(new TextDecoder().decode(files.get('bundle.json')))
    assert.deepEqual(Object.keys(meta), [
      'format',
      'job_id',
      'model',
      'mode',
      'hyper',
      'schema_hash',
      'features',
      'classes',
      'split',
      'metrics',
      'model_info',
    ])
    assert.equal(meta.format, 'cis490-bundle/1')
    assert.equal(meta.schema_hash, data.schemaHash)
    assert.deepEqual(meta.features, data.features)
    const val = classificationMetrics(labelsOf(data, split.val), trained.valPred, data.classes.length)
    const test = classificationMetrics(labelsOf(data, split.test), trained.testPred, data.classes.length)
    assert.equal(meta.metrics.val_macro_f1, val.macroF1)
    assert.equal(meta.metrics.test_accuracy, test.accuracy)
    assert.deepEqual(meta.metrics.confusion, { val: val.confusion, test: test.confusion })
    assert.deepEqual(meta.metrics.per_class_f1[data.classes[1]], { val: val.perClassF1[1], test: test.perClassF1[1] })
    assert.deepEqual(Object.keys(meta.metrics).slice(-2), ['alpha', 'zeta'])
    assert.deepEqual(Object.keys(meta.metrics.alpha), ['a', 'b'])
    assert.deepEqual(meta.model_info, { best: 2, rounds: 3 })
    assert.deepEqual(meta.split, {
      ...SPLIT_PARAMS,
      train_rows: split.train.length,
      val_rows: split.val.length,
      test_rows: 72,
    })
    assert.equal(split.train.length + split.val.length, 72)
    assert.doesNotMatch(new TextDecoder().decode(files.get('bundle.json')), /seconds|timestamp|"host"|date/)
  })

  it('gives the same bytes and the same root CID for the same inputs', async () => {
    const a = await write(assemble().files)
    const b = await write(assemble().files)
    for (const f of ['bundle.json', 'README.md', 'scaler.json', 'model.bin', 'weights/part-1.bin'])
      assert.deepEqual(readFileSync(join(a, f)), readFileSync(join(b, f)), f)
    const cidA = await importBundle(a, new MemoryBlockstore())
    const cidB = await importBundle(b, new MemoryBlockstore())
    assert.equal(cidA, cidB)
    const changed = await write(
      assemble(fakeTrained(data, split, { files: new Map([['model.bin', new Uint8Array([1, 2, 3, 5])]]) })).files,
    )
    assert.notEqual(await importBundle(changed, new MemoryBlockstore()), cidA)
  })

  it('imports as a UnixFS directory: CIDv1 dag-pb root, raw sha2-256 leaves, sorted names', async () => {
    const dir = await write(assemble().files)
    const store = new MemoryBlockstore()
    const root = CID.parse(await importBundle(dir, store))
    assert.equal(root.version, 1)
    assert.equal(root.code, 0x70) // dag-pb
    assert.equal(root.multihash.code, 0x12) // sha2-256
    const entry = await exporter(root, store)
    assert.equal(entry.type, 'directory')
    const names: string[] = []
    for await (const child of entry.entries()) {
      names.push(child.name)
      if (child.name === 'bundle.json') {
        // a small file is one raw block whose multihash is the sha256 of its bytes
        assert.equal(child.cid.code, 0x55)
        const digest = createHash('sha256')
          .update(readFileSync(join(dir, 'bundle.json')))
          .digest()
        assert.deepEqual(Buffer.from(child.cid.multihash.digest), digest)
      }
    }
    assert.deepEqual(names, ['README.md', 'bundle.json', 'model.bin', 'scaler.json', 'weights'])
  })

  it('writes scaler.json only for standardised models, and it round-trips exactly', async () => {
    const scaler = fitScaler(data, split.train)
    const dir = await write(assemble().files)
    const loaded = await readBundle(dir, { dataset: data })
    assert.deepEqual(loaded.scaler, scaler)
    assert.equal(loaded.meta.job_id, JOB_ID)
    assert.equal(assemble(undefined, false).files.has('scaler.json'), false)
  })

  it('puts the trainer README after the generic part', () => {
    const text = new TextDecoder().decode(assemble().files.get('README.md'))
    assert.match(text, /^# knn model, dataset "synthetic", mode "realistic"/)
    assert.match(text, /`scaler\.json`/)
    assert.ok(text.includes(data.schemaHash))
    assert.ok(text.trimEnd().endsWith('## Loading model.bin\n\nRead four bytes.'))
  })

  it('refuses a dataset of another schema, saying what differs', async () => {
    const dir = await write(assemble().files)
    const oracle = await loadDataset(join(root, 'data'), 'oracle')
    await assert.rejects(readBundle(dir, { dataset: oracle }), (err: unknown) => {
      assert.ok(err instanceof SchemaMismatchError)
      assert.match(err.message, /does not fit this data \(mode "oracle"/)
      assert.match(err.message, /6 features it does not know \(first: oracle_000\)/)
      return true
    })
    await assert.rejects(readBundle(dir, { schemaHash: 'f'.repeat(64) }), SchemaMismatchError)
  })

  it('refuses an invalid bundle.json, naming the file and field', async () => {
    const dir = await write(assemble().files)
    const meta = JSON.parse(readFileSync(join(dir, 'bundle.json'), 'utf8'))
    meta.metrics.val_macro_f1 = 'high'
    writeFileSync(join(dir, 'bundle.json'), JSON.stringify(meta))
    await assert.rejects(readBundle(dir), /bundle\.json: metrics\.val_macro_f1: /)
    rmSync(join(dir, 'bundle.json'))
    await assert.rejects(readBundle(dir), /bundle\.json: cannot read: ENOENT/)
  })

  it('refuses bad trainer output: prediction counts, classes, file names, metric clashes', () => {
    const t = fakeTrained(data, split)
    const nv = split.val.length
    assert.throws(
      () => assemble({ ...t, valPred: t.valPred.subarray(1) }),
      new RegExp(`returned ${nv - 1} val predictions for ${nv} val rows`),
    )
    assert.throws(
      () => assemble({ ...t, testPred: t.testPred.map(() => 99) }),
      /test prediction 0 is class 99, outside 0\.\.2/,
    )
    assert.throws(() => assemble({ ...t, files: new Map([['bundle.json', new Uint8Array()]]) }), BundleError)
    assert.throws(() => assemble({ ...t, files: new Map([['../x', new Uint8Array()]]) }), /"\.\.\/x"/)
    assert.throws(() => assemble({ ...t, extraMetrics: { val_macro_f1: 1 } }), /would replace the standard metric/)
    assert.throws(() => assemble({ ...t, extraMetrics: { bad: Number.NaN } }), /metrics\.bad: NaN cannot be written/)
  })
})
