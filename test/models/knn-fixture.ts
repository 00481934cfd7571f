import { execFileSync, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { JobId, JobSpec } from '../../manifests/index.ts'
import { DEFAULT_JOB_CONSTRAINTS } from '../../manifests/index.ts'
import type { ModelName } from '../../models/registry/index.ts'
import { resolveHyper } from '../../models/registry/index.ts'
import { fitScaler, splitRows } from '../../models/split.ts'
import type { Dataset, TrainContext } from '../../models/types.ts'
import { gridDataset, mulberry32 } from '../helpers/memory-dataset.ts'

/** Options of {@link makeKnnDataset}. */
export interface KnnDatasetOptions {
  hosts?: string[]
  episodes?: number
  windows?: number
  features?: number
  classes?: number
  /** Share of missing values. */
  missing?: number
  seed?: number
}

/**
 * A small in-memory dataset: classes differ in their feature means, each host shifts and
 * rescales them, some values are missing (NaN), one feature is constant.
 */
export function makeKnnDataset(opts: KnnDatasetOptions = {}): Dataset {
  const hosts = opts.hosts ?? ['host-a', 'host-b', 'host-c']
  const nEp = opts.episodes ?? 10
  const nWin = opts.windows ?? 8
  const f = opts.features ?? 12
  const nClasses = opts.classes ?? 4
  const missing = opts.missing ?? 0.02
  const rnd = prng(opts.seed ?? 1)
  const features = Array.from({ length: f }, (_, j) => `f${String(j).padStart(2, '0')}`)
  const classes = Array.from({ length: nClasses }, (_, c) => `class-${c}`)
  const episodes = Array.from({ length: nEp }, (_, e) => `ep${String(e).padStart(3, '0')}`)
  const centre = Array.from({ length: nClasses * f }, () => gauss(rnd) * 1.2)
  const rows = hosts.length * nEp * nWin
  const X = new Float32Array(rows * f)
  const y = new Int32Array(rows)
  let r = 0
  for (let h = 0; h < hosts.length; h++) {
    const scale = 1 + 0.3 * h
    for (let e = 0; e < nEp; e++) {
      const label = Math.floor(rnd() * nClasses)
      for (let w = 0; w < nWin; w++, r++) {
        y[r] = label
        for (let j = 0; j < f; j++) {
          const v = j === f - 1 ? 3 : scale * (centre[label * f + j] + gauss(rnd)) + 0.5 * h
          X[r * f + j] = j !== f - 1 && rnd() < missing ? Number.NaN : v
        }
      }
    }
  }
  return gridDataset({ name: 'knn-fixture', hosts, episodes, windows: nWin, features, classes, X, y })
}

/** A train context for `model` on `data`: test host = the last host, val_frac 0.3. */
export function knnContext(
  data: Dataset,
  model: ModelName,
  hyper: Record<string, unknown> = {},
  seed = 0,
  signal = new AbortController().signal,
): TrainContext & { lines: string[] } {
  const test_hosts = [data.hosts[data.hosts.length - 1]]
  const job: JobSpec = {
    ...DEFAULT_JOB_CONSTRAINTS,
    id: '0'.repeat(64) as JobId,
    model,
    mode: data.mode,
    hyper: resolveHyper(model, hyper),
    split: { test_hosts, val_frac: 0.3 },
    train_hosts: [],
    seed,
  }
  const split = splitRows(data, { test_hosts, val_frac: 0.3, seed })
  const lines: string[] = []
  return {
    job,
    data,
    split,
    scaler: fitScaler(data, split.train),
    progress: (line) => lines.push(line),
    signal,
    lines,
  }
}

/** Exact KNN by brute force in float64, ties to the smaller row: the test oracle. */
export function bruteKnn(X: Float32Array, Q: Float32Array, f: number, k: number): Int32Array {
  const n = X.length / f
  const m = Q.length / f
  const out = new Int32Array(m * k)
  for (let q = 0; q < m; q++) {
    const d: [number, number][] = []
    for (let j = 0; j < n; j++) {
      let s = 0
      for (let l = 0; l < f; l++) {
        const t = Q[q * f + l] - X[j * f + l]
        s += t * t
      }
      d.push([s, j])
    }
    d.sort((a, b) => a[0] - b[0] || a[1] - b[1])
    for (let c = 0; c < k; c++) out[q * k + c] = d[c][1]
  }
  return out
}

/** A seeded uniform [0, 1) generator (mulberry32). */
export const prng = mulberry32

/** A standard normal draw (Box-Muller). */
export function gauss(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd())
}

let pythonPath: string | undefined

/**
 * A Python 3 interpreter that imports scikit-learn: Debian's `/usr/bin/python3`
 * (python3-sklearn) first, since a `python3` earlier on PATH (pyenv) may lack it.
 */
export function sklearnPython(): string {
  if (pythonPath) return pythonPath
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(candidate, ['-c', 'import sklearn, numpy'], { stdio: 'ignore' })
    if (r.status === 0) {
      pythonPath = candidate
      return candidate
    }
  }
  throw new Error('no python3 with scikit-learn found; install it (Debian: apt-get install python3-sklearn)')
}

/** Runs a Python script (text) with `dir` as its working directory and parses its stdout as JSON. */
export function runPython(script: string, dir: string): unknown {
  const file = join(dir, 'check.py')
  writeFileSync(file, script)
  const out = execFileSync(sklearnPython(), [file], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 })
  return JSON.parse(out)
}

/** Writes a typed array's bytes (little-endian on this platform) to `dir/name`. */
export function writeArray(dir: string, name: string, a: Float32Array | Int32Array): void {
  writeFileSync(join(dir, name), new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
}
