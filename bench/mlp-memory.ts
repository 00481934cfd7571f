/**
 * Peak memory of MLP training at full scale: ~660k windows x 145 features (the seed
 * study's size), one epoch by default, default hypers (batch 256, hidden 128, 2 layers),
 * on the default backend unless given. Target: peak RSS under 4 GiB.
 *
 * Reports the RSS with only the dataset loaded, the peak RSS of the process (VmHWM,
 * which includes the wasm heap) after training, validating, predicting val and test and
 * serialising the model, and the wasm heap size.
 *
 *   npx node bench/mlp-memory.ts [rows=660000] [epochs=1] [backend=wasm] [--json]
 *
 * With `--json` the last stdout line is one JSON object of the figures (for bench/run.ts).
 */
import { readFileSync } from 'node:fs'
import * as tf from '@tensorflow/tfjs'
import type { JobSpec } from '../manifests/index.ts'
import { trainNeural } from '../models/neural/train.ts'
import { MlpHyper } from '../models/registry/index.ts'
import { fitScaler, splitRows } from '../models/split.ts'
import { makeBenchDataset } from './neural-data.ts'

const [rowsArg, epochsArg, backendArg] = process.argv.slice(2).filter((a) => a !== '--json')
const targetRows = Number(rowsArg) || 660_000
const epochs = Number(epochsArg) || 1
const backend = backendArg ?? 'wasm'
const WINDOWS = 582
const MiB = 2 ** 20

function status(field: 'VmRSS' | 'VmHWM'): number {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
  return m ? (Number(m[1]) * 1024) / MiB : Number.NaN
}

const t0 = performance.now()
const data = makeBenchDataset({
  hosts: 2,
  episodesPerHost: Math.ceil(targetRows / 2 / WINDOWS),
  windows: WINDOWS,
  features: 145,
  classes: 6,
})
const split = splitRows(data, { seed: 0, val_frac: 0.2 })
const scaler = fitScaler(data, split.train)
const dataMiB = (data.X.byteLength + 4 * 4 * data.rows) / MiB
const rssData = status('VmRSS')
const hwmData = status('VmHWM')
console.log(
  `${data.rows} windows x ${data.features.length} features (${dataMiB.toFixed(0)} MiB of typed arrays), ` +
    `${split.train.length} train / ${split.val.length} val; built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
)
console.log(`RSS with the dataset: ${rssData.toFixed(0)} MiB (peak so far ${hwmData.toFixed(0)} MiB)`)

let maxRssDuringEpochs = 0
const hyper = MlpHyper.parse({ epochs, patience: epochs })
const started = performance.now()
const res = await trainNeural({
  job: { model: 'mlp', hyper, mode: 'realistic', split: {}, train_hosts: [], seed: 0 } as unknown as JobSpec,
  data,
  split,
  scaler,
  backend,
  progress: (l) => {
    maxRssDuringEpochs = Math.max(maxRssDuringEpochs, status('VmRSS'))
    console.log(`  ${l}`)
  },
  signal: new AbortController().signal,
})
const seconds = (performance.now() - started) / 1000
const info = res.runInfo ?? {}
const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm
console.log(
  `trained ${epochs} epoch(s) on ${info.backend} in ${seconds.toFixed(1)} s ` +
    `(${Math.round(info.train_windows_per_s as number)} train windows/s, predict ${(info.predict_seconds as number).toFixed(1)} s)`,
)
console.log(
  `RSS now: ${status('VmRSS').toFixed(0)} MiB; max RSS seen at epoch ends: ${maxRssDuringEpochs.toFixed(0)} MiB`,
)
if (wasm) console.log(`wasm heap: ${(wasm.HEAPU8.byteLength / MiB).toFixed(0)} MiB`)
const peak = status('VmHWM')
console.log(
  `peak RSS (VmHWM): ${peak.toFixed(0)} MiB = dataset RSS + ${(peak - rssData).toFixed(0)} MiB; ` +
    `${(peak / 4096).toFixed(2)} of the 4 GiB target`,
)
if (process.argv.includes('--json')) {
  console.log(
    JSON.stringify({
      rows: data.rows,
      epochs,
      backend: info.backend,
      seconds,
      data_mib: dataMiB,
      data_rss_mib: rssData,
      peak_mib: peak,
    }),
  )
}
