import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises'
import { cpus, hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { MemoryBlockstore } from 'blockstore-core/memory'
import type { WritableStorage } from 'ipfs-unixfs-importer'
import type { JobSpec } from '../manifests/index.ts'
import {
  assembleBundle,
  BUNDLE_FORMAT,
  BUNDLE_JSON_FILE,
  type BundleSplit,
  importBundle,
  writeBundleFiles,
} from './bundle/index.ts'
import { DatasetError, loadDataset } from './dataset/index.ts'
import { checkOutputLocation } from './output-path.ts'
import { MODELS, type ModelName, resolveHyper } from './registry/index.ts'
import { DEFAULT_VAL_FRAC, fitScaler, splitRows } from './split.ts'
import { loadTrainer } from './trainers.ts'
import type { Dataset, Split, TrainedModel, Trainer } from './types.ts'

/** `--out` exists and `force` was not given, or `force` cannot replace what is there. */
export class OutputExistsError extends Error {
  override name = 'OutputExistsError'
}

/**
 * A train request that cannot run as given (an unknown backend, a dataset directory that
 * is missing or not a directory): found before any work starts.
 * @remarks The message names the input (`--backend`, `--data`).
 */
export class TrainInputError extends Error {
  override name = 'TrainInputError'
}

/** What to train and where. */
export interface TrainJobRequest {
  /** The job, validated, with `hyper` as written (defaults are filled here). */
  readonly job: JobSpec
  readonly dataDir: string
  /** The bundle directory to create (atomically). */
  readonly outDir: string
  /** Replace an existing `outDir`. @default false */
  readonly force?: boolean
  /** `--backend` for tfjs models. */
  readonly backend?: string
}

/** Injected parts: a trainer (tests use fakes), the block store, progress, cancellation. */
export interface TrainJobDeps {
  /** @default loadTrainer(job.model) */
  readonly trainer?: Trainer
  /** Where the bundle's blocks go. @default a new MemoryBlockstore (CID only) */
  readonly blockstore?: WritableStorage
  readonly progress?: (line: string) => void
  readonly signal?: AbortSignal
}

/** The `train` command's stdout object (snake_case). */
export interface TrainJobResult {
  readonly job_id: string
  readonly model: ModelName
  readonly mode: string
  /** Root CID of the bundle directory. */
  readonly bundle: string
  readonly out: string
  readonly schema_hash: string
  readonly metrics: {
    readonly val_macro_f1: number
    readonly test_macro_f1: number
    readonly val_accuracy: number
    readonly test_accuracy: number
  }
  readonly rows: { readonly train: number; readonly val: number; readonly test: number }
  /** Seconds inside the trainer (fit and val/test predictions). */
  readonly fit_seconds: number
  /** Non-deterministic facts of this run: host, timings, peak RSS, and the trainer's runInfo. */
  readonly run: Readonly<Record<string, unknown>>
}

/**
 * Runs one job end to end: load the dataset in the job's mode, split (CONTRACTS §3),
 * fit the scaler, train, score, and write the bundle directory (CONTRACTS §7).
 *
 * @remarks The bundle is written into a temporary directory beside `outDir` (fsynced)
 * and renamed into place at the end, so a kill at any moment leaves either no `outDir`
 * or a complete one. Temp directories of dead processes from earlier kills are removed
 * first. On abort (`signal`) the pipeline stops at the next step boundary (the loader
 * and trainers check the signal too) and removes its temp directory.
 * @throws DatasetError (bad data, unknown mode, an empty train/val/test split),
 * OutputExistsError, or whatever the trainer throws at run time.
 */
export async function runTrainJob(req: TrainJobRequest, deps: TrainJobDeps = {}): Promise<TrainJobResult> {
  const started = performance.now()
  const progress = deps.progress ?? (() => {})
  const signal = deps.signal ?? new AbortController().signal
  const { job } = req
  const { out, hyper } = await checkTrainRequest(req)
  await removeStaleTemps(out)

  signal.throwIfAborted()
  const data = await loadDataset(req.dataDir, job.mode, { signal, progress })
  const loadSeconds = (performance.now() - started) / 1000
  progress(
    `loaded ${data.rows} windows x ${data.features.length} features (mode ${job.mode}) in ${loadSeconds.toFixed(1)} s`,
  )
  const splitParams: BundleSplit = {
    test_hosts: [...(job.split.test_hosts ?? [])],
    train_hosts: [...job.train_hosts],
    val_frac: job.split.val_frac ?? DEFAULT_VAL_FRAC,
    seed: job.seed,
  }
  const split = splitRows(data, splitParams)
  assertSplitUsable(req.dataDir, data, split, splitParams)
  progress(`split: ${split.train.length} train, ${split.val.length} val, ${split.test.length} test rows`)
  const scaler = fitScaler(data, split.train)

  const trainer = deps.trainer ?? (await loadTrainer(job.model))
  signal.throwIfAborted()
  progress(`training ${job.model}`)
  const fitStart = performance.now()
  const trained = await untilAborted(
    trainer({ job: { ...job, hyper }, data, split, scaler, progress, signal, backend: req.backend }),
    signal,
  )
  const fitSeconds = (performance.now() - fitStart) / 1000
  signal.throwIfAborted()

  const standardized = MODELS[job.model].runtime !== 'xgboost'
  const bundle = assembleBundle({
    jobId: job.id,
    model: job.model,
    hyper,
    data,
    split,
    splitParams,
    scaler: standardized ? scaler : undefined,
    trained,
  })
  const bundleStart = performance.now()
  const cid = await publishBundle(
    out,
    bundle.files,
    req.force === true,
    deps.blockstore ?? new MemoryBlockstore(),
    signal,
  )
  progress(`bundle ${cid} -> ${out}`)
  const usage = process.resourceUsage()
  return {
    job_id: job.id,
    model: job.model,
    mode: job.mode,
    bundle: cid,
    out,
    schema_hash: data.schemaHash,
    metrics: {
      val_macro_f1: bundle.val.macroF1,
      test_macro_f1: bundle.test.macroF1,
      val_accuracy: bundle.val.accuracy,
      test_accuracy: bundle.test.accuracy,
    },
    rows: { train: split.train.length, val: split.val.length, test: split.test.length },
    fit_seconds: round3(fitSeconds),
    run: {
      ...runInfoOf(trained),
      host: hostname(),
      node: process.version,
      cpus: cpus().length,
      load_seconds: round3(loadSeconds),
      bundle_seconds: round3((performance.now() - bundleStart) / 1000),
      total_seconds: round3((performance.now() - started) / 1000),
      max_rss_mib: Math.round(usage.maxRSS / 1024),
    },
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000
}

function runInfoOf(trained: TrainedModel): Record<string, unknown> {
  return { ...(trained.runInfo ?? {}) }
}

/** Resolves with `work`, or rejects with the abort reason as soon as `signal` aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {})
    return Promise.reject(signal.reason)
  }
  return new Promise<T>((resolvePromise, reject) => {
    const onAbort = () => {
      work.catch(() => {})
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolvePromise(v)
      },
      (err) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}

/**
 * Checks everything about a train request that can be checked before the work starts, so
 * that bad input fails in a second rather than after a full training run: the hypers,
 * `outDir` (creatable; when it exists, only `force` over an empty directory or an earlier
 * bundle may replace it, never a file or another directory), `dataDir` (a directory
 * holding dataset.toml) and `backend` (a known tfjs backend, installed when it is
 * `tensorflow` and the model runs on tfjs).
 * @returns the absolute `outDir` and the hypers with defaults filled.
 * @throws OutputPathError, OutputExistsError, TrainInputError, or the hyper schema's ZodError.
 */
export async function checkTrainRequest(
  req: TrainJobRequest,
): Promise<{ out: string; hyper: Record<string, unknown> }> {
  const hyper = resolveHyper(req.job.model, req.job.hyper)
  await checkBackend(req.job.model, req.backend)
  checkDataDir(req.dataDir)
  const out = checkOutputLocation(req.outDir, '--out')
  checkExistingOutput(out, req.force === true)
  return { out, hyper }
}

function checkDataDir(dir: string): void {
  if (dir.trim() === '') throw new TrainInputError('--data "": expected a dataset directory, got an empty string')
  let isDir: boolean
  try {
    isDir = statSync(dir).isDirectory()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new TrainInputError(
      `--data ${dir}: ${code === 'ENOENT' || code === 'ENOTDIR' ? 'no such directory' : `cannot read it (${code})`}`,
    )
  }
  if (!isDir)
    throw new TrainInputError(`--data ${dir}: is a file; expected a dataset directory (dataset.toml + data files)`)
  let tomlIsFile = false
  try {
    tomlIsFile = statSync(join(dir, 'dataset.toml')).isFile()
  } catch {
    // reported below
  }
  if (!tomlIsFile)
    throw new TrainInputError(
      `--data ${dir}: not a dataset directory: it has no dataset.toml (make one with \`cis490-node dataset synth\`)`,
    )
}

async function checkBackend(model: ModelName, backend: string | undefined): Promise<void> {
  if (backend === undefined) return
  // backend.ts loads tfjs: only when a backend is named (the neural trainer loads it anyway).
  const { NEURAL_BACKENDS, probeNeuralBackends, TENSORFLOW_PACKAGES } = await import('./neural/backend.ts')
  if (!(NEURAL_BACKENDS as readonly string[]).includes(backend))
    throw new TrainInputError(
      `--backend ${JSON.stringify(backend)}: unknown tfjs backend; use one of ${NEURAL_BACKENDS.join(', ')}`,
    )
  if (backend === 'tensorflow' && MODELS[model].runtime === 'tfjs' && probeNeuralBackends().tensorflowPackage === null)
    throw new TrainInputError(
      `--backend tensorflow: needs ${TENSORFLOW_PACKAGES.join(' or ')} installed next to this package; use --backend wasm`,
    )
}

/** What may stand at `out`: nothing, or with `force` an empty directory or a bundle. */
function checkExistingOutput(out: string, force: boolean): void {
  let st: ReturnType<typeof statSync>
  try {
    st = statSync(out)
  } catch {
    return
  }
  if (!st.isDirectory())
    throw new OutputExistsError(`--out ${out}: is a file; refusing to replace it (give a new directory path)`)
  if (!force) throw new OutputExistsError(`${out} exists; choose another --out or pass --force to replace it`)
  if (isEmptyDir(out) || isBundleDir(out)) return
  throw new OutputExistsError(
    `--out ${out}: a directory that is not a bundle; --force only replaces an earlier bundle or an empty directory`,
  )
}

function isEmptyDir(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0
  } catch {
    return false
  }
}

function isBundleDir(dir: string): boolean {
  try {
    const meta = JSON.parse(readFileSync(join(dir, BUNDLE_JSON_FILE), 'utf8')) as { format?: unknown }
    return meta.format === BUNDLE_FORMAT
  } catch {
    return false
  }
}

/**
 * Refuses splits a job cannot be trained and scored on, naming the hosts: unknown
 * `test_hosts`/`train_hosts`, and an empty train, val or test part.
 * @throws DatasetError
 */
export function assertSplitUsable(dir: string, data: Dataset, split: Split, params: BundleSplit): void {
  const known = `dataset hosts: ${data.hosts.join(', ')}`
  for (const [field, hosts] of [
    ['split.test_hosts', params.test_hosts],
    ['train_hosts', params.train_hosts],
  ] as const) {
    for (const h of hosts) {
      if (!data.hosts.includes(h)) throw new DatasetError({ file: dir }, `${field}: host "${h}" has no rows (${known})`)
    }
  }
  const testHosts = params.test_hosts.length > 0 ? params.test_hosts.join(', ') : '(none)'
  const trainHosts =
    params.train_hosts.length > 0
      ? params.train_hosts.join(', ')
      : data.hosts.filter((h) => !params.test_hosts.includes(h)).join(', ') || '(none)'
  if (split.test.length === 0)
    throw new DatasetError(
      { file: dir },
      `empty test split: split.test_hosts is ${testHosts}; name the host(s) to test on (${known})`,
    )
  if (split.train.length === 0 && split.val.length === 0)
    throw new DatasetError(
      { file: dir },
      `empty train split: no rows left for train/val after test hosts ${testHosts} (train hosts: ${trainHosts}; ${known})`,
    )
  if (split.val.length === 0)
    throw new DatasetError(
      { file: dir },
      `empty val split: no episode of train hosts ${trainHosts} fell into val at val_frac ${params.val_frac} ` +
        `with seed ${params.seed}; raise split.val_frac or add episodes`,
    )
  if (split.train.length === 0)
    throw new DatasetError(
      { file: dir },
      `empty train split: every episode of train hosts ${trainHosts} went to val at val_frac ${params.val_frac}; lower split.val_frac`,
    )
}

const TEMP_MARK = '.tmp-'

function tempPrefix(out: string): string {
  return `.${basename(out)}${TEMP_MARK}`
}

/** Removes temp directories beside `out` left by killed runs (their pid is gone). */
async function removeStaleTemps(out: string): Promise<void> {
  const parent = dirname(out)
  const prefix = tempPrefix(out)
  let names: string[]
  try {
    names = await readdir(parent)
  } catch {
    return
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const pid = Number(name.slice(prefix.length).split('-')[0])
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue
    await rm(join(parent, name), { recursive: true, force: true })
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Writes the files into a temp dir, imports it, and renames it to `out`; cleans up on any failure. */
async function publishBundle(
  out: string,
  files: ReadonlyMap<string, Uint8Array>,
  force: boolean,
  blockstore: WritableStorage,
  signal: AbortSignal,
): Promise<string> {
  const parent = dirname(out)
  await mkdir(parent, { recursive: true })
  const tmp = join(parent, `${tempPrefix(out)}${process.pid}-${randomBytes(4).toString('hex')}`)
  const onAbort = () => {
    void rm(tmp, { recursive: true, force: true })
  }
  await mkdir(tmp)
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    await writeBundleFiles(tmp, files, { signal })
    const cid = await importBundle(tmp, blockstore, { signal })
    signal.throwIfAborted()
    if (force) {
      const old = `${tmp}-old`
      const hadOld = await rename(out, old).then(
        () => true,
        () => false,
      )
      try {
        await rename(tmp, out)
      } catch (err) {
        if (hadOld) await rename(old, out).catch(() => {})
        throw err
      }
      if (hadOld) await rm(old, { recursive: true, force: true })
    } else {
      await rename(tmp, out).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST')
          throw new OutputExistsError(`${out} appeared while training; choose another --out or pass --force`)
        throw err
      })
    }
    await syncDir(parent)
    return cid
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    throw err
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
