import { readFileSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { type Command, InvalidArgumentError } from 'commander'
import type { CID } from 'multiformats/cid'
import { DatasetError, DEFAULT_SYNTH, datasetInfo, synthesizeDataset } from '../../models/dataset/index.ts'
import { checkOutputLocation } from '../../models/index.ts'
import { RunError, UsageError } from '../errors.ts'
import { requireInputDir } from '../paths.ts'
import { formatTable } from '../table.ts'
import { API_OPTION, type ApiClient, apiClient } from './api-client.ts'

function intArg(min: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`expected an integer >= ${min}, got "${value}"`)
    return n
  }
}

interface SynthFlags {
  out: string
  hosts: string
  episodes: number
  windows: number
  features: number
  realisticFeatures: number
  classes: number
  seed: number
  format: string
  name: string
  json?: boolean
  force?: boolean
}

/** The option each of the generator's RangeError messages is about (they start with its name). */
const SYNTH_OPTION_OF: readonly (readonly [RegExp, string])[] = [
  [/^hosts?\b/, '--hosts'],
  [/^realistic features\b/, '--realistic-features'],
  [/^(episodes|windows|features|classes|seed|format|name)\b/, ''],
]

/** Prefixes a generator RangeError with the option it is about: `--hosts: host "a/b": ...`. */
function synthUsageMessage(message: string): string {
  for (const [re, flag] of SYNTH_OPTION_OF) {
    const m = re.exec(message)
    if (m === null) continue
    const option = flag === '' ? `--${m[1]}` : flag
    // "hosts: expected ..." becomes "--hosts: expected ..."; other messages get the option in front.
    return message.startsWith(`${m[0]}: `) ? `${option}${message.slice(m[0].length)}` : `${option}: ${message}`
  }
  return message
}

/** Cells of one episode the generator holds at once (windows x features float64s): 1 GiB. */
const MAX_EPISODE_CELLS = 2 ** 27

/** The media type of a raw block on the node's API (`RAW_BLOCK_TYPE` of node/api). */
const RAW_BLOCK = 'application/vnd.ipld.raw'

/** Whether a node answers at the API (a refused or unreachable address: no). */
async function nodeAnswers(api: ApiClient): Promise<boolean> {
  try {
    const res = await fetch(`${api.base}/v1/health`, { signal: AbortSignal.timeout(5000) })
    await res.body?.cancel()
    return true
  } catch {
    return false
  }
}

/** The pid in `DATA_DIR/table/LOCK` when that process is alive (a node runs on this data dir), else null. */
function runningNodePid(dataDir: string): number | null {
  let pid: number
  try {
    pid = Number(readFileSync(join(dataDir, 'table', 'LOCK'), 'utf8').trim())
  } catch {
    return null
  }
  if (!Number.isInteger(pid) || pid <= 1) return null
  try {
    process.kill(pid, 0)
    return pid
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null
  }
}

/**
 * Imports a dataset directory as UnixFS: through the running node's API (each block sent as
 * bytes, which the node hashes before it stores them, then the root pinned), or straight into a
 * stopped node's `DATA_DIR/blocks`.
 */
async function addDataset(
  dir: string,
  flags: { api?: string; dataDir?: string },
): Promise<{ cid: string; blocks: number; bytes: number; via: string }> {
  const { importBundle } = await import('../../models/bundle/index.ts')
  const api = apiClient(flags)
  if (flags.dataDir === undefined && (await nodeAnswers(api))) {
    let blocks = 0
    let bytes = 0
    const seen = new Set<string>()
    const cid = await importBundle(dir, {
      put: async (key: CID, block: Uint8Array): Promise<CID> => {
        if (!seen.has(key.toString())) {
          seen.add(key.toString())
          blocks++
          bytes += block.byteLength
          await api.postBytes(`/v1/blocks/${key}`, block, RAW_BLOCK)
        }
        return key
      },
    })
    await api.post('/v1/pins', { cid })
    return { cid, blocks, bytes, via: `the node at ${api.base}` }
  }
  const dataDir = resolve(flags.dataDir ?? process.env.CIS490_DATA_DIR ?? join(homedir(), '.cis490'))
  const pid = runningNodePid(dataDir)
  if (pid !== null)
    throw new UsageError(
      `--data-dir ${dataDir}: a node (pid ${pid}) runs on it; add through its API instead (--api HOST:PORT, without --data-dir)`,
    )
  // this one file, not node/blocks/index.ts: the index loads Helia and libp2p (5 s on a loaded host)
  const { importDirectoryOffline } = await import('../../node/blocks/offline-import.ts')
  const r = await importDirectoryOffline(join(dataDir, 'blocks'), dir)
  return {
    cid: r.cid,
    blocks: r.blocks,
    bytes: r.bytes,
    via:
      flags.dataDir !== undefined
        ? join(dataDir, 'blocks')
        : `${join(dataDir, 'blocks')} (no node answers at ${api.base})`,
  }
}

/** Registers `dataset synth`, `dataset info` and `dataset add`. */
export function registerDatasetCommands(program: Command): void {
  const dataset = program.command('dataset').description('make and inspect datasets (layout: docs/FORMATS.md §2)')

  dataset
    .command('synth')
    .description('write a deterministic synthetic multi-host telemetry dataset')
    .addHelpText(
      'after',
      [
        '',
        'Writes one file per host and dataset.toml with modes "oracle" (all features) and',
        '"realistic" (without oracle_*). Each episode has one label; features are class-conditional',
        'gaussians, AR(1)-correlated across an episode, shifted and rescaled per host (later hosts',
        'noisier: the cross-device gap), 2% missing; oracle_* features carry more signal.',
        '',
        'Windows = hosts x episodes (per host) x windows (per episode). The defaults give',
        '2 x 567 x 40 = 45,360 windows. The full seed scale of ~660k windows x 230 features is',
        '--windows 582 (2 x 567 x 582 = 659,988): about 15 s as CSV (1.1 GB), 20 s as parquet',
        '(565 MB) on 2 cores. The same flags and seed give the same bytes.',
      ].join('\n'),
    )
    .requiredOption('--out <dir>', 'directory to create (must be missing or empty)')
    .option('--force', 'replace --out when it holds a dataset written by `dataset synth` (never anything else)')
    .option('--hosts <list>', 'comma-separated host names', DEFAULT_SYNTH.hosts.join(','))
    .option('--episodes <n>', 'episodes PER HOST', intArg(1), DEFAULT_SYNTH.episodes)
    .option('--windows <n>', 'windows per episode', intArg(1), DEFAULT_SYNTH.windows)
    .option('--features <n>', 'feature columns in total (realistic + oracle_*)', intArg(1), DEFAULT_SYNTH.features)
    .option(
      '--realistic-features <n>',
      'realistic features; the rest are oracle_*',
      intArg(1),
      DEFAULT_SYNTH.realisticFeatures,
    )
    .option('--classes <n>', 'number of classes', intArg(2), DEFAULT_SYNTH.classes)
    .option('--seed <n>', 'generator seed (same seed, same bytes)', intArg(0), DEFAULT_SYNTH.seed)
    .option('--format <format>', 'csv or parquet', DEFAULT_SYNTH.format)
    .option('--name <name>', 'the dataset name in dataset.toml', DEFAULT_SYNTH.name)
    .option('--json', 'print a JSON summary instead of a sentence')
    .action(async (flags: SynthFlags) => {
      if (flags.format !== 'csv' && flags.format !== 'parquet')
        throw new UsageError(`--format: expected csv or parquet, got "${flags.format}"`)
      if (flags.name.trim() === '') throw new UsageError('--name: expected a dataset name, got an empty string')
      const hosts = flags.hosts
        .split(',')
        .map((h) => h.trim())
        .filter((h) => h !== '')
      if (flags.windows * flags.features > MAX_EPISODE_CELLS)
        throw new UsageError(
          `--windows ${flags.windows} x --features ${flags.features}: an episode of ${flags.windows * flags.features} ` +
            `values is too large (at most ${MAX_EPISODE_CELLS}); lower --windows or --features, or raise --episodes`,
        )
      checkOutputLocation(flags.out, '--out')
      // Checked again (and enforced) by synthesizeDataset; here to fail before any work.
      if (statSync(flags.out, { throwIfNoEntry: false })?.isFile() === true)
        throw new UsageError(`--out ${flags.out}: is a file; refusing to replace it (give a new directory path)`)
      const started = performance.now()
      let summary: Awaited<ReturnType<typeof synthesizeDataset>>
      try {
        summary = await synthesizeDataset(
          flags.out,
          {
            hosts,
            episodes: flags.episodes,
            windows: flags.windows,
            features: flags.features,
            realisticFeatures: flags.realisticFeatures,
            classes: flags.classes,
            seed: flags.seed,
            format: flags.format,
            name: flags.name,
          },
          { progress: (line) => process.stderr.write(`${line}\n`), replace: flags.force === true },
        )
      } catch (err) {
        if (err instanceof DatasetError) throw new UsageError(`--out ${err.message}`)
        if (err instanceof RangeError && !/allocation failed|Invalid array length/i.test(err.message))
          throw new UsageError(synthUsageMessage(err.message))
        throw err
      }
      const seconds = (performance.now() - started) / 1000
      if (flags.json === true) {
        process.stdout.write(
          `${JSON.stringify({
            dir: summary.dir,
            files: summary.files,
            windows: summary.rows,
            hosts: summary.hosts,
            episodes_per_host: summary.episodesPerHost,
            windows_per_episode: summary.windows,
            features: summary.features.length,
            oracle_features: summary.features.filter((f) => f.startsWith('oracle_')).length,
            classes: summary.classes,
            seed: summary.seed,
            format: summary.format,
            seconds: Number(seconds.toFixed(3)),
          })}\n`,
        )
        return
      }
      process.stdout.write(
        `wrote ${summary.dir}: ${summary.rows} windows (${summary.hosts.length} hosts x ${summary.episodesPerHost} ` +
          `episodes x ${summary.windows} windows), ${summary.features.length} features, ` +
          `${summary.classes.length} classes, ${summary.format}, in ${seconds.toFixed(1)} s\n`,
      )
    })

  dataset
    .command('add')
    .description("import a dataset directory into a node's block store as UnixFS and print its CID")
    .argument('<dir>', 'the dataset directory (dataset.toml + *.csv / *.parquet)')
    .option(...API_OPTION)
    .option('--data-dir <dir>', "import into this stopped node's data dir instead (env CIS490_DATA_DIR)")
    .option('--json', 'print {cid, name, dir, windows, blocks, bytes, via}')
    .addHelpText(
      'after',
      [
        '',
        'The dataset is checked first (dataset.toml, every file). With a node answering at --api the',
        'blocks go through its API and it pins the root; otherwise (or with --data-dir) they go',
        "straight into DATA_DIR/blocks, pinned there, for the node's next start. Put the CID printed",
        "(stdout's last line) in the manifest's [fleet] dataset: every peer then fetches the dataset",
        'from the fleet once, checks it and keeps it in DATA_DIR/datasets/CID.',
      ].join('\n'),
    )
    .action(async (dir: string, flags: { api?: string; dataDir?: string; json?: boolean }) => {
      requireInputDir('', dir, 'a dataset directory')
      const info = await checkedDatasetInfo(dir)
      let added: Awaited<ReturnType<typeof addDataset>>
      try {
        added = await addDataset(dir, flags)
      } catch (err) {
        if (err instanceof UsageError || err instanceof RunError) throw err
        throw new RunError(`cannot add ${dir}: ${(err as Error).message}`)
      }
      if (flags.json === true) {
        process.stdout.write(
          `${JSON.stringify({ cid: added.cid, name: info.name, dir: resolve(dir), windows: info.windows, blocks: added.blocks, bytes: added.bytes, via: added.via })}\n`,
        )
        return
      }
      process.stderr.write(
        `added dataset "${info.name}" (${info.windows} windows, ${added.bytes} bytes in ${added.blocks} blocks) to ${added.via}\n`,
      )
      process.stdout.write(`${added.cid}\n`)
    })

  dataset
    .command('info')
    .description('hosts, episodes and windows (per host), classes, modes with feature counts and schema hashes')
    .argument('<dir>', 'the dataset directory (dataset.toml + *.csv / *.parquet)')
    .option('--json', 'print one JSON object')
    .action(async (dir: string, flags: { json?: boolean }) => {
      requireInputDir('', dir, 'a dataset directory')
      const info = await checkedDatasetInfo(dir)
      if (flags.json === true) {
        process.stdout.write(`${JSON.stringify(info, null, 2)}\n`)
        return
      }
      const out: string[] = []
      out.push(
        `dataset "${info.name}" (${info.dir}): ${info.files.length} file(s), ${info.windows} windows, ` +
          `${info.episodes} episodes, ${info.features} features, ${info.classes.length} classes\n\n`,
      )
      out.push(
        formatTable(
          ['HOST', 'EPISODES', 'WINDOWS'],
          info.hosts.map((h) => [h.host, String(h.episodes), String(h.windows)]),
        ),
      )
      out.push('\n')
      out.push(
        formatTable(
          ['CLASS', 'WINDOWS'],
          info.classes.map((c) => [c.name, String(c.windows)]),
        ),
      )
      out.push('\n')
      out.push(
        formatTable(
          ['MODE', 'FEATURES', 'SCHEMA HASH'],
          info.modes.map((m) => [m.name, String(m.features), m.schema_hash]),
        ),
      )
      process.stdout.write(out.join(''))
    })
}

/** `datasetInfo` of a dataset directory; a bad dataset is the user's input (exit 2). */
async function checkedDatasetInfo(dir: string): Promise<Awaited<ReturnType<typeof datasetInfo>>> {
  try {
    return await datasetInfo(dir)
  } catch (err) {
    if (err instanceof DatasetError) throw new UsageError(err.message)
    throw err
  }
}
