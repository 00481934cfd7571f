import { statSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import type { Command } from 'commander'
import { type JobSpec, loadManifest, type Manifest, shortId } from '../../manifests/index.ts'
import {
  assertSplitUsable,
  type Dataset,
  DatasetError,
  DEFAULT_VAL_FRAC,
  loadDatasetKeys,
  readDatasetLayout,
  splitRows,
} from '../../models/index.ts'
import { UsageError } from '../errors.ts'
import { requireInputDir, requireInputFile } from '../paths.ts'
import { formatTable } from '../table.ts'

function constraintsText(job: JobSpec): string {
  const parts: string[] = []
  if (job.require_cuda) parts.push('cuda')
  else if (job.prefer_cuda) parts.push('prefer-cuda')
  if (job.min_vram_gib > 0) parts.push(`vram>=${job.min_vram_gib}G`)
  if (job.min_ram_gib > 0) parts.push(`ram>=${job.min_ram_gib}G`)
  if (job.allowed_hosts.length > 0) parts.push(`hosts=${job.allowed_hosts.join(',')}`)
  if (job.max_attempts !== 3) parts.push(`attempts=${job.max_attempts}`)
  return parts.length > 0 ? parts.join(' ') : '-'
}

/** Rows of each part of a job's split on the dataset at hand. */
export interface SplitRows {
  train: number
  val: number
  test: number
}

/**
 * The dataset directory `manifest check` checks the jobs against: `--data DIR`, else the
 * manifest's `[fleet] dataset` (relative to the manifest file) when it is a directory here.
 * @returns null when the dataset is not at hand (a CID, or a path that does not exist here).
 */
export function datasetAtHand(file: string, manifest: Manifest, data: string | undefined): string | null {
  if (data !== undefined) {
    requireInputDir('--data', data, 'a dataset directory')
    return data
  }
  const ds = manifest.fleet.dataset
  const dir = isAbsolute(ds) ? ds : resolve(dirname(file), ds)
  return statSync(dir, { throwIfNoEntry: false })?.isDirectory() === true ? dir : null
}

/**
 * Checks every job against the dataset as training would: its mode is one of the dataset's,
 * its `split.test_hosts` and `train_hosts` have rows, and its train, val and test parts are
 * not empty.
 * @returns the split rows of each job, in manifest order.
 * @throws UsageError listing every job that would fail at training, by its TOML path.
 */
export async function checkJobsAgainstDataset(file: string, manifest: Manifest, dir: string): Promise<SplitRows[]> {
  let modes: string[]
  let keys: Dataset
  try {
    modes = Object.keys((await readDatasetLayout(dir)).config.modes).sort()
    keys = await loadDatasetKeys(dir)
  } catch (err) {
    if (err instanceof DatasetError) throw new UsageError(`dataset of ${file}: ${err.message}`)
    throw err
  }
  const problems: string[] = []
  const rows = manifest.jobs.map((job, i): SplitRows => {
    const where = `jobs[${i}] (${job.model} ${job.mode}, ${shortId(job.id)})`
    if (!modes.includes(job.mode))
      problems.push(`${where}: mode "${job.mode}" is not a mode of ${dir}/dataset.toml (known: ${modes.join(', ')})`)
    const params = {
      test_hosts: [...(job.split.test_hosts ?? [])],
      train_hosts: [...job.train_hosts],
      val_frac: job.split.val_frac ?? DEFAULT_VAL_FRAC,
      seed: job.seed,
    }
    const split = splitRows(keys, params)
    try {
      assertSplitUsable(dir, keys, split, params)
    } catch (err) {
      if (!(err instanceof DatasetError)) throw err
      problems.push(`${where}: ${err.message.slice(dir.length + 2)}`)
    }
    return { train: split.train.length, val: split.val.length, test: split.test.length }
  })
  if (problems.length > 0)
    throw new UsageError(
      `${file}: ${problems.length} of ${manifest.jobs.length} job(s) would fail at training on the dataset ${dir}:\n  ` +
        problems.join('\n  '),
    )
  return rows
}

/** The JSON row of one job in `manifest check --json`. */
export function manifestJobJson(job: JobSpec) {
  return {
    id: job.id,
    model: job.model,
    mode: job.mode,
    priority: job.priority,
    hyper: job.hyper,
    split: job.split,
    train_hosts: job.train_hosts,
    seed: job.seed,
    require_cuda: job.require_cuda,
    prefer_cuda: job.prefer_cuda,
    min_vram_gib: job.min_vram_gib,
    min_ram_gib: job.min_ram_gib,
    allowed_hosts: job.allowed_hosts,
    max_attempts: job.max_attempts,
  }
}

/** Registers `manifest check`. */
export function registerManifestCommands(program: Command): void {
  const manifest = program.command('manifest').description('work with job manifests (TOML)')
  manifest
    .command('check')
    .description('validate a manifest and list its jobs (exit 2 with the error on a bad manifest)')
    .addHelpText(
      'after',
      [
        '',
        "When the dataset is at hand (--data DIR, or the manifest's [fleet] dataset is a directory",
        'here, relative to the manifest file), every job is also checked as training would check it:',
        "its mode is one of the dataset's, its split.test_hosts and train_hosts have rows, and its",
        'train, val and test parts are not empty (a job without split.test_hosts has no test part).',
        "The table then shows each part's rows. Otherwise a note on stderr says they were not checked.",
      ].join('\n'),
    )
    .argument('<file>', 'the manifest TOML file')
    .option('--data <dir>', "check the jobs against this dataset directory (default: the manifest's [fleet] dataset)")
    .option('--json', 'print [{id, model, mode, priority, ..., split_rows}] instead of a table')
    .action(async (file: string, opts: { json?: boolean; data?: string }) => {
      requireInputFile('', file, 'a manifest (TOML)')
      const m = loadManifest(file)
      const dir = datasetAtHand(file, m, opts.data)
      const rows = dir === null ? null : await checkJobsAgainstDataset(file, m, dir)
      if (dir === null)
        process.stderr.write(
          `note: the dataset "${m.fleet.dataset}" is not at hand here: modes, hosts and splits were not checked ` +
            '(pass --data DIR to check them)\n',
        )
      if (opts.json === true) {
        const json = m.jobs.map((j, i) => ({ ...manifestJobJson(j), split_rows: rows?.[i] ?? null }))
        process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
        return
      }
      const header = ['ID', 'MODEL', 'MODE', 'PRIORITY', 'CONSTRAINTS']
      const table = m.jobs.map((j) => [shortId(j.id), j.model, j.mode, String(j.priority), constraintsText(j)])
      if (rows !== null) {
        // CONSTRAINTS stays last (the table trims the last column's padding).
        header.splice(4, 0, 'TRAIN/VAL/TEST')
        for (const [i, r] of table.entries()) r.splice(4, 0, `${rows[i].train}/${rows[i].val}/${rows[i].test}`)
      }
      process.stdout.write(formatTable(header, table))
      process.stdout.write(
        `${m.jobs.length} job(s), fleet "${m.fleet.name}", dataset ${m.fleet.dataset}` +
          `${dir === null ? '' : `; checked against ${dir}: every mode, host and split is usable`}\n`,
      )
    })
}
