import { existsSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import type { Command } from 'commander'
import { ZodError } from 'zod'
import { datasetCid, type JobSpec, loadJobFile, loadManifest, resolveIdPrefix } from '../../manifests/index.ts'
import {
  BundleError,
  DatasetError,
  OutputExistsError,
  OutputPathError,
  runTrainJob,
  TrainInputError,
} from '../../models/index.ts'
import { sliceVisible } from '../colour.ts'
import { DEBUG_ENV, RunError, UsageError } from '../errors.ts'
import { requireInputFile, requireValue } from '../paths.ts'

interface TrainFlags {
  manifest?: string
  job?: string
  jobFile?: string
  data?: string
  out: string
  force?: boolean
  backend?: string
}

/** A progress line's count: the trainers' `epoch E/N` (neural) and `round R/N` (gbt). */
const COUNT = /\b(?:epoch|round) (\d+)\/(\d+)\b/

/** How many cells the bar has. */
const BAR_CELLS = 20

/**
 * What `train` writes to a TTY for one progress line, and whether a line is left drawn unended.
 * @remarks A line with an epoch or round count becomes `[####....]  40% LINE`, drawn over the
 * previous such line (`\r`, clear the line) and cut to the terminal's width so it never wraps;
 * any other line ends the drawn one (kept, with a newline) and is written as it is. Pure:
 * `drawing` says whether the last text written left a bar line unended.
 */
export function renderProgress(line: string, drawing: boolean, columns?: number): { text: string; drawing: boolean } {
  const m = COUNT.exec(line)
  const total = m === null ? 0 : Number(m[2])
  if (m === null || total <= 0) return { text: `${drawing ? '\n' : ''}${line}\n`, drawing: false }
  const done = Math.min(1, Number(m[1]) / total)
  const filled = Math.round(done * BAR_CELLS)
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_CELLS - filled)}] ${`${Math.round(done * 100)}%`.padStart(4)} `
  // A terminal that reports no width (0, or none) gets the line whole.
  const width = columns === undefined || columns <= 0 ? Number.POSITIVE_INFINITY : Math.max(20, columns - 1)
  return { text: `\r\x1b[2K${sliceVisible(bar + line, width)}`, drawing: true }
}

/** Registers `train`: run one job and write its bundle (the worker runs this as a child process). */
export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('train one job and write its bundle directory (layout: docs/FORMATS.md §5)')
    .addHelpText(
      'after',
      [
        '',
        'Name the job either way:',
        "  --manifest FILE --job ID_PREFIX [--data DIR]   data defaults to the manifest's [fleet]",
        '                                                 dataset, relative to the manifest file',
        '  --job-file JOB.json --data DIR                 one [[jobs]] table written as JSON',
        '',
        'Stdout: one JSON object {job_id, model, mode, bundle (root CID), out, schema_hash,',
        '  metrics: {val_macro_f1, test_macro_f1, val_accuracy, test_accuracy},',
        '  rows: {train, val, test}, fit_seconds, run: {host, timings, max_rss_mib, trainer facts}}.',
        'Stderr: progress. The bundle is written to a temp dir beside --out and renamed at the',
        'end, so a kill leaves no partial --out. Exit 0 done, 1 training failed (or stopped by',
        'SIGTERM/SIGINT), 2 bad usage or input (bad job, dataset, empty split, existing --out).',
      ].join('\n'),
    )
    .option('--manifest <file>', 'the manifest holding the job')
    .option('--job <id-prefix>', 'the job id (any unique prefix) in --manifest')
    .option('--job-file <file>', 'a job as JSON (one [[jobs]] table), instead of --manifest/--job')
    .option('--data <dir>', 'the dataset directory')
    .requiredOption('--out <dir>', 'the bundle directory to create')
    .option('--force', 'replace an existing --out')
    .option('--backend <name>', 'tfjs backend for neural models (e.g. wasm, cpu)')
    .action(async (flags: TrainFlags) => {
      const { job, dataDir } = resolveJob(flags)
      const controller = new AbortController()
      // On a terminal, counted progress lines redraw one line; piped (the worker's log), plain lines.
      const tty = process.stderr.isTTY === true
      let drawing = false
      const endLine = () => {
        if (drawing) process.stderr.write('\n')
        drawing = false
      }
      const progress = (line: string) => {
        if (!tty) {
          process.stderr.write(`${line}\n`)
          return
        }
        const r = renderProgress(line, drawing, process.stderr.columns)
        drawing = r.drawing
        process.stderr.write(r.text)
      }
      let received: string | undefined
      const onSignal = (sig: NodeJS.Signals) => {
        received = sig
        endLine()
        process.stderr.write(`received ${sig}: stopping and removing the temp bundle\n`)
        controller.abort(new Error(`stopped by ${sig}`))
        // A trainer stuck in native code may not notice; do not outlive the signal by much.
        setTimeout(() => process.exit(1), 5000).unref()
      }
      process.once('SIGTERM', onSignal)
      process.once('SIGINT', onSignal)
      try {
        const result = await runTrainJob(
          { job, dataDir, outDir: flags.out, force: flags.force === true, backend: flags.backend },
          { progress, signal: controller.signal },
        )
        process.stdout.write(`${JSON.stringify(result)}\n`)
      } catch (err) {
        if (received !== undefined) throw new RunError(`training of job ${job.id} stopped by ${received}`)
        if (err instanceof ZodError) {
          const issue = err.issues[0]
          throw new UsageError(
            `job ${job.id.slice(0, 12)}: hyper.${issue?.path.join('.') ?? ''}: ${issue?.message ?? err.message} ` +
              "(fix the value in the job's hyper table and run again)",
          )
        }
        if (
          err instanceof DatasetError ||
          err instanceof OutputExistsError ||
          err instanceof OutputPathError ||
          err instanceof TrainInputError
        )
          throw new UsageError(err.message)
        if (err instanceof BundleError) throw new RunError(err.message)
        throw new RunError(
          `training of job ${job.id} (${job.model}) failed: ${(err as Error)?.message ?? String(err)} ` +
            `(the progress above shows how far it got; rerun with ${DEBUG_ENV}=1 for the stack trace)`,
        )
      } finally {
        endLine()
        process.off('SIGTERM', onSignal)
        process.off('SIGINT', onSignal)
      }
    })
}

/** The job and dataset directory named by the flags. */
function resolveJob(flags: TrainFlags): { job: JobSpec; dataDir: string } {
  if (flags.jobFile !== undefined) {
    if (flags.manifest !== undefined || flags.job !== undefined)
      throw new UsageError('give either --job-file, or --manifest with --job, not both')
    if (flags.data === undefined) throw new UsageError('--job-file needs --data DIR (the dataset directory)')
    requireInputFile('--job-file', flags.jobFile, 'a job file (JSON)')
    return { job: loadJobFile(flags.jobFile), dataDir: flags.data }
  }
  if (flags.manifest === undefined || flags.job === undefined)
    throw new UsageError('name the job: --manifest FILE --job ID_PREFIX, or --job-file JOB.json')
  requireInputFile('--manifest', flags.manifest, 'a manifest (TOML)')
  requireValue('--job', flags.job, 'a job id or a unique prefix of one')
  const manifest = loadManifest(flags.manifest)
  let id: string
  try {
    id = resolveIdPrefix(
      manifest.jobs.map((j) => j.id),
      flags.job,
    )
  } catch (err) {
    throw new UsageError(`${flags.manifest}: ${(err as Error).message}`)
  }
  const job = manifest.jobs.find((j) => j.id === id)!
  if (flags.data !== undefined) return { job, dataDir: flags.data }
  const ds = manifest.fleet.dataset
  const dataDir = isAbsolute(ds) ? ds : resolve(dirname(flags.manifest), ds)
  if (!existsSync(dataDir)) {
    throw new UsageError(
      `${flags.manifest}: [fleet] dataset "${ds}" is not a directory here (${dataDir})` +
        `${datasetCid(ds) !== null ? `; it is a CID: run \`cis490-node fetch ${ds} --out DIR\` on a host whose node runs, then pass --data DIR` : ''}`,
    )
  }
  return { job, dataDir }
}
