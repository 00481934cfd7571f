/**
 * Peak memory of `cis490-node train` at full scale (659,988 windows; realistic mode =
 * 145 features) for gbt and knn, each in its own child process.
 *
 *   npx node bench/train-memory.ts [--data DIR] [--models gbt,knn] [--mode realistic]
 *                                  [--gbt-rounds 20] [--windows 582] [--keep] [--json]
 *
 * With `--json` the last stdout line is one JSON object of the figures (for bench/run.ts).
 *
 * References measured in the same run: the peak RSS of loading the dataset alone (child
 * process) and the size of the float32 feature matrix. A trainer that is not available on
 * this host (stub, missing libxgboost, ...) is reported as such, not as a failure.
 * Note: knn predicts every val and test row against every train row; at full scale that
 * is ~1e11 distance pairs, tens of minutes on 2 cores.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { synthesizeDataset } from '../models/dataset/index.ts'

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    models: { type: 'string', default: 'gbt,knn' },
    mode: { type: 'string', default: 'realistic' },
    'gbt-rounds': { type: 'string', default: '20' },
    windows: { type: 'string', default: '582' },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
})

const BIN = new URL('../cli/bin.ts', import.meta.url).pathname
const SCALE = new URL('./dataset-scale.ts', import.meta.url).pathname
const root = mkdtempSync(join(tmpdir(), 'cis490-train-memory-'))
const data = values.data ?? join(root, 'data')

try {
  if (values.data === undefined) {
    const t = performance.now()
    await synthesizeDataset(data, { format: 'parquet', windows: Number(values.windows) })
    console.log(`synthesised ${data} in ${((performance.now() - t) / 1000).toFixed(1)} s`)
  }
  const load = spawnSync(process.execPath, [SCALE, '--child-load', data, '--mode', values.mode], { encoding: 'utf8' })
  if (load.status !== 0) throw new Error(`loading ${data} failed: ${load.stderr}`)
  const ref = JSON.parse(load.stdout) as { seconds: number; rows: number; features: number; maxRssMiB: number }
  const matrixMiB = (ref.rows * ref.features * 4) / 2 ** 20
  console.log(
    `reference: load alone ${ref.rows} x ${ref.features} (${values.mode}) peak RSS ${ref.maxRssMiB.toFixed(0)} MiB ` +
      `in ${ref.seconds.toFixed(1)} s; float32 matrix ${matrixMiB.toFixed(0)} MiB`,
  )

  const models: Record<string, unknown>[] = []
  const hypers: Record<string, Record<string, unknown>> = {
    gbt: { num_boost_round: Number(values['gbt-rounds']), early_stopping_rounds: 5 },
    knn: { k: 10 },
  }
  for (const model of values.models.split(',')) {
    const jobFile = join(root, `${model}.json`)
    writeFileSync(
      jobFile,
      JSON.stringify({ model, mode: values.mode, hyper: hypers[model] ?? {}, split: { test_hosts: ['k-gamingcom'] } }),
    )
    const out = join(root, `bundle-${model}`)
    const t = performance.now()
    const r = spawnSync(process.execPath, [BIN, 'train', '--job-file', jobFile, '--data', data, '--out', out], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    })
    const wall = (performance.now() - t) / 1000
    if (r.status !== 0) {
      const message = (r.stderr.match(/^error: .*$/m)?.[0] ?? r.stderr.trim().split('\n').pop() ?? '').slice(0, 300)
      const unavailable = /not implemented|XGBoost|libxgboost|cannot find|Cannot find module|not available/i.test(
        message,
      )
      models.push({ model, status: unavailable ? 'unavailable' : 'failed', exit: r.status, message })
      console.log(
        `${model}: ${unavailable ? 'UNAVAILABLE' : 'FAILED'} (exit ${r.status}, ${wall.toFixed(0)} s): ${message}`,
      )
      continue
    }
    const res = JSON.parse(r.stdout) as {
      fit_seconds: number
      metrics: { val_macro_f1: number; test_macro_f1: number }
      run: { max_rss_mib: number; load_seconds: number; total_seconds: number }
    }
    models.push({
      model,
      status: 'ok',
      max_rss_mib: res.run.max_rss_mib,
      fit_seconds: res.fit_seconds,
      total_seconds: res.run.total_seconds,
      wall_seconds: wall,
      val_macro_f1: res.metrics.val_macro_f1,
    })
    console.log(
      `${model}: peak RSS ${res.run.max_rss_mib} MiB = ${(res.run.max_rss_mib / ref.maxRssMiB).toFixed(2)}x load alone, ` +
        `${(res.run.max_rss_mib / matrixMiB).toFixed(2)}x the matrix; fit ${res.fit_seconds.toFixed(1)} s, ` +
        `total ${res.run.total_seconds.toFixed(1)} s; val/test macro F1 ${res.metrics.val_macro_f1.toFixed(3)}/` +
        `${res.metrics.test_macro_f1.toFixed(3)}`,
    )
    if (existsSync(out)) rmSync(out, { recursive: true })
  }
  if (values.json) {
    console.log(
      JSON.stringify({
        rows: ref.rows,
        features: ref.features,
        reference: { ...ref, max_rss_mib: ref.maxRssMiB, matrix_mib: matrixMiB },
        models,
      }),
    )
  }
} finally {
  if (values.keep) console.log(`kept ${root}`)
  else rmSync(root, { recursive: true, force: true })
}
