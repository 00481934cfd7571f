/**
 * Training throughput of our tfjs trainer against its PyTorch twin on CPU, for the MLP
 * (features -> 128 x2 -> classes) and one sequence model (LSTM or GRU, 2 layers of 128,
 * seq_len 8), batch 256, Adam 1e-3, dropout 0.1, at 1 thread and at all cores, in
 * windows per wall second and per CPU second.
 *
 * Every measurement is its own child process, interleaved round by round (tfjs fast,
 * tfjs as before, torch, per thread count), so the ratios of one round saw the same load
 * on a shared machine. "tfjs fast" is the trainer as it runs now (OpenBLAS matMul
 * kernels and the fused Adam when OpenBLAS loads); "tfjs base" runs with
 * `CIS490_NEURAL_FAST=0` (tfjs's own kernels and Adam); threads are OpenBLAS's
 * (`OPENBLAS_NUM_THREADS`; the wasm backend itself runs one thread in Node) and
 * torch's `set_num_threads`. Timed on both sides: the training epochs only (shuffle,
 * batches, forward, backward, Adam); ours gathers and standardises every batch from the
 * raw rows, torch indexes a pre-built tensor. CPU seconds: ours are the process's during
 * the epochs (`process.cpuUsage`), torch's `time.process_time()` over the same loop.
 * PyTorch is Debian's python3-torch (`/usr/bin/python3`; `PYTHON` overrides); with more
 * than one thread it runs twice, with OpenMP's default (spinning) waits and with
 * `OMP_WAIT_POLICY=PASSIVE`, and the faster run is the reference.
 *
 *   npx node bench/neural-throughput.ts [models=mlp,lstm] [rounds=3] [mlpRows=40000] [seqRows=12000] [backend=wasm] [--json]
 *
 * With `--json` the last stdout line is one JSON object of the figures (for bench/run.ts).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JobSpec } from '../manifests/index.ts'
import { BatchGatherer } from '../models/neural/batches.ts'
import { parseNeuralHyper } from '../models/neural/build-model.ts'
import { trainNeural } from '../models/neural/train.ts'
import { fitScaler, labelsOf, splitRows } from '../models/split.ts'
import type { Dataset, Split } from '../models/types.ts'
import { makeBenchDataset } from './neural-data.ts'

const FEATURES = 145
const CLASSES = 6
const WINDOWS = 40
const SEQ_LEN = 8
const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3')

type Model = 'mlp' | 'lstm' | 'gru'

function hyperOf(model: Model, epochs: number): Record<string, unknown> {
  return parseNeuralHyper(model, { epochs, patience: epochs, ...(model === 'mlp' ? {} : { seq_len: SEQ_LEN }) })
}

function benchData(rows: number): { data: Dataset; split: Split } {
  const data = makeBenchDataset({
    hosts: 2,
    episodesPerHost: Math.ceil(rows / 2 / WINDOWS),
    windows: WINDOWS,
    features: FEATURES,
    classes: CLASSES,
  })
  return { data, split: splitRows(data, { seed: 0, val_frac: 0.1 }) }
}

interface Rate {
  wps: number
  wpcs: number
}

/** Child mode: one training run of our trainer; prints one JSON line. */
async function worker(model: Model, rows: number, epochs: number, backend: string): Promise<void> {
  const { data, split } = benchData(rows)
  const scaler = fitScaler(data, split.train)
  const job = { model, hyper: hyperOf(model, epochs), mode: 'realistic', split: {}, train_hosts: [], seed: 0 }
  const res = await trainNeural({
    job: job as unknown as JobSpec,
    data,
    split,
    scaler,
    backend,
    progress: () => {},
    signal: new AbortController().signal,
  })
  const info = res.runInfo ?? {}
  const windows = split.train.length * (info.epochs_run as number)
  console.log(
    JSON.stringify({
      wps: windows / (info.train_seconds as number),
      wpcs: windows / (info.train_cpu_seconds as number),
      blas: info.blas,
      optimizer: info.optimizer,
    }),
  )
}

function runTfjs(model: Model, rows: number, epochs: number, backend: string, threads: number, fast: boolean): Rate {
  const out = execFileSync(
    process.execPath,
    [import.meta.filename, '--worker', model, String(rows), String(epochs), backend],
    {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads), CIS490_NEURAL_FAST: fast ? '1' : '0' },
    },
  )
  return JSON.parse(out.trim().split('\n').at(-1)!) as Rate
}

function runTorch(dir: string, model: Model, epochs: number, threads: number, passive = false): Rate {
  const h = hyperOf(model, epochs) as {
    batch_size: number
    hidden: number
    layers: number
    dropout: number
    lr: number
  }
  const out = execFileSync(
    PYTHON,
    [
      join(import.meta.dirname, 'neural-throughput-torch.py'),
      join(dir, `${model === 'mlp' ? 'mlp' : 'seq'}.X.f32`),
      join(dir, `${model === 'mlp' ? 'mlp' : 'seq'}.y.i32`),
      model,
      ...[SEQ_LEN, FEATURES, CLASSES, epochs, h.batch_size, h.hidden, h.layers, h.dropout, h.lr, threads, 0].map(
        String,
      ),
    ],
    { encoding: 'utf8', env: passive ? { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } : process.env },
  )
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as { windows_per_s: number; windows_per_cpu_s: number }
  return { wps: r.windows_per_s, wpcs: r.windows_per_cpu_s }
}

/** Writes the standardised train inputs (as our gatherer cuts them) and labels for torch. */
function writeTorchInputs(dir: string, name: string, rows: number, seqLen: number | null): number {
  const { data, split } = benchData(rows)
  const scaler = fitScaler(data, split.train)
  const g = new BatchGatherer(data, scaler, seqLen, 4096)
  const X = new Float32Array(split.train.length * g.rowSize)
  for (let s = 0; s < split.train.length; s += g.maxBatch) {
    const e = Math.min(split.train.length, s + g.maxBatch)
    X.set(g.gather(split.train, s, e), s * g.rowSize)
  }
  writeFileSync(join(dir, `${name}.X.f32`), X)
  writeFileSync(join(dir, `${name}.y.i32`), labelsOf(data, split.train))
  return split.train.length
}

async function main(): Promise<void> {
  const [modelsArg, roundsArg, mlpRowsArg, seqRowsArg, backendArg] = process.argv.slice(2).filter((a) => a !== '--json')
  const models = (modelsArg ?? 'mlp,lstm').split(',') as Model[]
  const rounds = Number(roundsArg) || 3
  const mlpRows = Number(mlpRowsArg) || 40_000
  const seqRows = Number(seqRowsArg) || 12_000
  const backend = backendArg ?? 'wasm'
  const cores = availableParallelism()
  const threadCounts = cores > 1 ? [1, cores] : [1]
  const dir = mkdtempSync(join(tmpdir(), 'cis490-neural-bench-'))
  try {
    const trainRows: Record<string, number> = {}
    if (models.includes('mlp')) trainRows.mlp = writeTorchInputs(dir, 'mlp', mlpRows, null)
    if (models.some((m) => m !== 'mlp')) trainRows.seq = writeTorchInputs(dir, 'seq', seqRows, SEQ_LEN)
    console.log(
      `tfjs ${backend} vs torch, batch 256, Adam 1e-3, hidden 128 x2, dropout 0.1; ${cores} cores; ` +
        `${trainRows.mlp ?? '-'} MLP / ${trainRows.seq ?? '-'} sequence train windows; ${rounds} rounds`,
    )
    const results = new Map<string, Rate[]>()
    const add = (key: string, r: Rate) => {
      results.set(key, [...(results.get(key) ?? []), r])
    }
    for (let round = 1; round <= rounds; round++) {
      for (const model of models) {
        const rows = model === 'mlp' ? mlpRows : seqRows
        const epochs = model === 'mlp' ? 2 : 1
        for (const threads of threadCounts) {
          const fast = runTfjs(model, rows, epochs, backend, threads, true)
          // With several threads, torch's OpenMP threads spin while waiting (its default), which
          // collapses on a machine whose cores are busy: the better of spinning and passive waits
          // is the reference.
          const spin = runTorch(dir, model, epochs, threads)
          const passive = threads > 1 ? runTorch(dir, model, epochs, threads, true) : spin
          const torch = passive.wps > spin.wps ? passive : spin
          const base = runTfjs(model, rows, epochs, backend, threads, false)
          add(`${model} ${threads} fast`, fast)
          add(`${model} ${threads} base`, base)
          add(`${model} ${threads} torch`, torch)
          console.log(
            `  round ${round} ${model.padEnd(4)} ${threads} thread${threads === 1 ? ' ' : 's'}: ` +
              `tfjs fast ${fmt(fast)}, torch ${fmt(torch)}${threads > 1 ? ` (spin ${fmt(spin)}, passive ${fmt(passive)})` : ''}, tfjs base ${fmt(base)}; ` +
              `fast/torch ${(fast.wps / torch.wps).toFixed(2)} wall ${(fast.wpcs / torch.wpcs).toFixed(2)} CPU; ` +
              `load ${loadavg()[0].toFixed(1)}`,
          )
        }
      }
    }
    console.log('\nmedian windows/s (wall, CPU) and median per-round ratio tfjs fast / torch:')
    const summary: Record<string, unknown>[] = []
    for (const model of models)
      for (const threads of threadCounts) {
        const fast = results.get(`${model} ${threads} fast`)!
        const torch = results.get(`${model} ${threads} torch`)!
        const base = results.get(`${model} ${threads} base`)!
        const ratio = (k: keyof Rate) => median(fast.map((f, i) => f[k] / torch[i][k])).toFixed(2)
        summary.push({
          model,
          threads,
          fast: medianRate(fast),
          torch: medianRate(torch),
          base: medianRate(base),
          ratio_wall: Number(ratio('wps')),
          ratio_cpu: Number(ratio('wpcs')),
        })
        console.log(
          `  ${model.padEnd(4)} ${threads} thread${threads === 1 ? ' ' : 's'}: fast ${fmt(medianRate(fast))}, ` +
            `torch ${fmt(medianRate(torch))}, base ${fmt(medianRate(base))}; ratio ${ratio('wps')} wall, ${ratio('wpcs')} CPU`,
        )
      }
    if (process.argv.includes('--json')) console.log(JSON.stringify({ rounds, backend, results: summary }))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

function medianRate(rs: Rate[]): Rate {
  return { wps: median(rs.map((r) => r.wps)), wpcs: median(rs.map((r) => r.wpcs)) }
}

function fmt(r: Rate): string {
  return `${Math.round(r.wps)}/${Math.round(r.wpcs)}`
}

if (process.argv[2] === '--worker') {
  const [, model, rows, epochs, backend] = process.argv.slice(2)
  await worker(model as Model, Number(rows), Number(epochs), backend)
} else {
  await main()
}
