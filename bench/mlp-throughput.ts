/**
 * MLP training throughput (train windows per second) of our tfjs trainer vs PyTorch on
 * CPU, same architecture (features -> 128 -> 128 -> classes, relu, dropout 0.1), same
 * standardised train rows, batch 256, Adam 1e-3, in one run, printed as ratios.
 *
 * Timed on both sides: the training epochs only (shuffle, batch gathering, forward,
 * backward, Adam step). Our side gathers and standardises every batch from the raw
 * rows (as the trainer does); PyTorch indexes a pre-standardised tensor. Validation
 * and prediction are excluded from the wall-clock rate. The per-CPU-second rate is
 * steadier on a shared machine; ours counts the whole trainer call (validation,
 * prediction and serialisation included, a few percent), so it slightly favours PyTorch. PyTorch is Debian's python3-torch (`/usr/bin/python3`;
 * `PYTHON` overrides), at its default thread count and at all cores.
 *
 *   npx node bench/mlp-throughput.ts [rows=50000] [epochs=2] [backends=wasm,cpu]
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JobSpec } from '../manifests/index.ts'
import { trainNeural } from '../models/neural/train.ts'
import { MlpHyper } from '../models/registry/index.ts'
import { fitScaler, labelsOf, splitRows, standardize } from '../models/split.ts'
import { makeBenchDataset } from './neural-data.ts'

const [rowsArg, epochsArg, backendsArg] = process.argv.slice(2)
const targetRows = Number(rowsArg) || 50_000
const epochs = Number(epochsArg) || 2
const backends = (backendsArg ?? 'wasm,cpu').split(',')
const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3')
const FEATURES = 145
const CLASSES = 6
const WINDOWS = 40

const hyper = MlpHyper.parse({ epochs, patience: epochs })
const data = makeBenchDataset({
  hosts: 2,
  episodesPerHost: Math.ceil(targetRows / 2 / WINDOWS),
  windows: WINDOWS,
  features: FEATURES,
  classes: CLASSES,
})
const split = splitRows(data, { seed: 0, val_frac: 0.1 })
const scaler = fitScaler(data, split.train)
console.log(
  `MLP ${FEATURES} -> ${hyper.hidden} x${hyper.layers} -> ${CLASSES}, dropout ${hyper.dropout}, batch ${hyper.batch_size}, ` +
    `Adam ${hyper.lr}, ${epochs} epochs over ${split.train.length} train windows; ${cpus().length} cores`,
)

const results: { name: string; wps: number; wpcs: number }[] = []
for (const backend of backends) {
  const job = { model: 'mlp', hyper, mode: 'realistic', split: {}, train_hosts: [], seed: 0 } as unknown as JobSpec
  const cpu0 = process.cpuUsage()
  const res = await trainNeural({
    job,
    data,
    split,
    scaler,
    backend,
    progress: (l) => console.log(`  tfjs ${backend}: ${l}`),
    signal: new AbortController().signal,
  })
  const cpu = process.cpuUsage(cpu0)
  const wps = res.runInfo?.train_windows_per_s as number
  const epochsRun = res.runInfo?.epochs_run as number
  results.push({
    name: `tfjs ${backend}`,
    wps,
    wpcs: (split.train.length * epochsRun) / ((cpu.user + cpu.system) / 1e6),
  })
}

const dir = mkdtempSync(join(tmpdir(), 'cis490-mlp-bench-'))
try {
  writeFileSync(join(dir, 'X.f32'), standardize(data, split.train, scaler))
  writeFileSync(join(dir, 'y.i32'), labelsOf(data, split.train))
  const threadCounts = [0, cpus().length]
  for (const threads of threadCounts) {
    const out = execFileSync(
      PYTHON,
      [
        join(import.meta.dirname, 'mlp-throughput-torch.py'),
        join(dir, 'X.f32'),
        join(dir, 'y.i32'),
        ...[
          FEATURES,
          CLASSES,
          epochs,
          hyper.batch_size,
          hyper.hidden,
          hyper.layers,
          hyper.dropout,
          hyper.lr,
          threads,
          0,
        ].map(String),
      ],
      { encoding: 'utf8' },
    )
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
      windows_per_s: number
      windows_per_cpu_s: number
      threads: number
      torch: string
    }
    const name = `torch ${r.torch} ${r.threads} thread${r.threads === 1 ? '' : 's'}${threads === 0 ? ' (default)' : ''}`
    results.push({ name, wps: r.windows_per_s, wpcs: r.windows_per_cpu_s })
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}

console.log(`\nthroughput (train windows per wall second, per CPU second); load average ${loadavg()[0].toFixed(1)}:`)
for (const r of results)
  console.log(
    `  ${r.name.padEnd(34)} ${Math.round(r.wps).toString().padStart(8)} ${Math.round(r.wpcs).toString().padStart(8)}`,
  )
console.log('\nratios tfjs / torch (> 1: tfjs faster), wall and CPU:')
for (const t of results.filter((r) => r.name.startsWith('tfjs')))
  for (const p of results.filter((r) => r.name.startsWith('torch')))
    console.log(`  ${t.name} / ${p.name}: ${(t.wps / p.wps).toFixed(2)} wall, ${(t.wpcs / p.wpcs).toFixed(2)} CPU`)
