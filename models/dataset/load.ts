import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Dataset } from '../types.ts'
import { DATASET_CONFIG_FILE, type DatasetConfig, modeNames, readDatasetConfig, selectFeatures } from './config.ts'
import { countCsvRecords, parseNumberCell, readCsvRecords } from './csv-reader.ts'
import { DatasetError } from './errors.ts'
import { openParquet, type ParquetSource, readParquetColumns } from './parquet-reader.ts'
import { applyRank, gather, Interner, permuteRowsInPlace, rowOrder } from './row-order.ts'
import { schemaHash } from './schema-hash.ts'

/** The columns every data file must have; all others are numeric features. */
export const REQUIRED_COLUMNS = ['host', 'episode', 'window', 'label'] as const

/** I/O options of the loader. */
export interface LoadOptions {
  readonly signal?: AbortSignal
  /** One line per file read. */
  readonly progress?: (line: string) => void
}

/** One data file with its header and row count (the loader's first pass). */
interface Source {
  readonly path: string
  readonly kind: 'csv' | 'parquet'
  readonly columns: readonly string[]
  readonly rows: number
  readonly parquet?: ParquetSource
}

/** Rows of every file, before ordering: ids in first-seen order. */
interface RawTable {
  readonly rows: number
  readonly X: Float32Array
  readonly host: Int32Array
  readonly episode: Int32Array
  readonly label: Int32Array
  readonly window: Int32Array
  readonly hosts: Interner
  readonly episodes: Interner
  readonly labels: Interner
  readonly sources: readonly Source[]
}

/**
 * Loads a dataset directory in one feature mode (CONTRACTS §2).
 *
 * @remarks Two passes: headers and row counts first (parquet footers; a quote-aware
 * newline count for CSV), then one exactly sized `Float32Array` filled in place and
 * reordered by (host, episode, window) by following permutation cycles. Peak memory is
 * about the matrix itself. Only the mode's feature columns are parsed.
 * @throws DatasetError naming the file, row and column: no data files, unknown mode,
 * missing required column, files that disagree on columns, non-numeric or missing
 * required values, duplicate (host, episode, window) rows.
 */
export async function loadDataset(dir: string, mode: string, opts: LoadOptions = {}): Promise<Dataset> {
  const config = readDatasetConfig(dir)
  assertMode(config, mode, join(dir, DATASET_CONFIG_FILE))
  const sources = await openSources(dir, opts.signal)
  try {
    const featureColumns = featureColumnsOf(sources)
    const features = selectFeatures(config, mode, featureColumns, join(dir, DATASET_CONFIG_FILE))
    const raw = await readTable(sources, features, opts)
    return finish(config.name, mode, features, raw)
  } finally {
    await closeSources(sources)
  }
}

/** Headers, row counts, and the dataset's feature columns, with no values read. */
export async function readDatasetLayout(
  dir: string,
  signal?: AbortSignal,
): Promise<{ config: DatasetConfig; files: string[]; featureColumns: string[]; rows: number }> {
  const config = readDatasetConfig(dir)
  const sources = await openSources(dir, signal)
  try {
    return {
      config,
      files: sources.map((s) => s.path),
      featureColumns: featureColumnsOf(sources),
      rows: sources.reduce((n, s) => n + s.rows, 0),
    }
  } finally {
    await closeSources(sources)
  }
}

/**
 * Reads only the required columns (no features): what `dataset info` needs.
 * @returns rows ordered as `loadDataset` orders them, with no feature columns.
 */
export async function loadDatasetKeys(dir: string, opts: LoadOptions = {}): Promise<Dataset> {
  const config = readDatasetConfig(dir)
  const sources = await openSources(dir, opts.signal)
  try {
    featureColumnsOf(sources)
    const raw = await readTable(sources, [], opts)
    return finish(config.name, '', [], raw)
  } finally {
    await closeSources(sources)
  }
}

function assertMode(config: DatasetConfig, mode: string, file: string): void {
  if (!Object.hasOwn(config.modes, mode)) {
    const known = modeNames(config)
    throw new DatasetError(
      { file },
      `unknown mode "${mode}"; known modes: ${known.length > 0 ? known.join(', ') : '(none: add a [modes.NAME] table)'}`,
    )
  }
}

async function openSources(dir: string, signal?: AbortSignal): Promise<Source[]> {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch (err) {
    throw new DatasetError({ file: dir }, `cannot read dataset directory: ${(err as NodeJS.ErrnoException).code}`)
  }
  // Dot files are skipped: editors and partial copies leave them.
  const dataFiles = names
    .filter((n) => !n.startsWith('.') && /\.(csv|parquet)$/i.test(n))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  if (dataFiles.length === 0)
    throw new DatasetError(
      { file: dir },
      'no data files: expected one or more *.csv or *.parquet files beside dataset.toml',
    )
  const sources: Source[] = []
  try {
    for (const name of dataFiles) {
      signal?.throwIfAborted()
      const path = join(dir, name)
      if (/\.parquet$/i.test(name)) {
        const parquet = await openParquet(path)
        sources.push({ path, kind: 'parquet', columns: parquet.columns, rows: parquet.rows, parquet })
      } else {
        const columns = await readCsvHeader(path)
        const rows = await countCsvRecords(path, { signal })
        sources.push({ path, kind: 'csv', columns, rows })
      }
    }
  } catch (err) {
    await closeSources(sources)
    throw err
  }
  return sources
}

async function closeSources(sources: readonly Source[]): Promise<void> {
  for (const s of sources) await s.parquet?.close()
}

class StopReading extends Error {}

async function readCsvHeader(path: string): Promise<string[]> {
  let header: string[] | undefined
  try {
    await readCsvRecords(path, (rec) => {
      header = Array.from({ length: rec.count }, (_, i) => rec.text(i))
      throw new StopReading()
    })
  } catch (err) {
    if (!(err instanceof StopReading)) throw err
  }
  if (header === undefined) throw new DatasetError({ file: path }, 'empty file: expected a header line of column names')
  return header
}

/** Checks required and duplicate columns and that all files agree; returns the feature columns. */
function featureColumnsOf(sources: readonly Source[]): string[] {
  let reference: { path: string; features: string[] } | undefined
  for (const s of sources) {
    const seen = new Set<string>()
    for (const c of s.columns) {
      if (seen.has(c)) throw new DatasetError({ file: s.path, column: c }, 'duplicate column name')
      seen.add(c)
    }
    for (const req of REQUIRED_COLUMNS) {
      if (!seen.has(req))
        throw new DatasetError(
          { file: s.path, column: req },
          `missing required column (every file needs ${REQUIRED_COLUMNS.join(', ')})`,
        )
    }
    const features = s.columns.filter((c) => !(REQUIRED_COLUMNS as readonly string[]).includes(c))
    if (reference === undefined) {
      reference = { path: s.path, features }
      continue
    }
    const ref = reference
    const n = Math.max(features.length, ref.features.length)
    for (let i = 0; i < n; i++) {
      if (features[i] !== ref.features[i]) {
        const detail =
          features[i] === undefined
            ? `missing; ${ref.path} has "${ref.features[i]}" as feature ${i + 1}`
            : ref.features[i] === undefined
              ? `not in ${ref.path}`
              : `is feature ${i + 1} here but ${ref.path} has "${ref.features[i]}" there`
        throw new DatasetError(
          { file: s.path, column: features[i] ?? ref.features[i] },
          `${detail}: all data files must have the same feature columns in the same order`,
        )
      }
    }
  }
  return reference?.features ?? []
}

async function readTable(
  sources: readonly Source[],
  features: readonly string[],
  opts: LoadOptions,
): Promise<RawTable> {
  const total = sources.reduce((n, s) => n + s.rows, 0)
  if (total === 0)
    throw new DatasetError({ file: dirname(sources[0].path) }, 'no data rows: the data files hold only their headers')
  const nf = features.length
  let X: Float32Array
  try {
    X = new Float32Array(total * nf)
  } catch {
    throw new DatasetError(
      { file: sources[0].path },
      `cannot allocate ${total} rows x ${nf} features (${((total * nf * 4) / 2 ** 30).toFixed(1)} GiB)`,
    )
  }
  const table: RawTable = {
    rows: total,
    X,
    host: new Int32Array(total),
    episode: new Int32Array(total),
    label: new Int32Array(total),
    window: new Int32Array(total),
    hosts: new Interner(),
    episodes: new Interner(),
    labels: new Interner(),
    sources,
  }
  const featureIndex = new Map(features.map((f, k) => [f, k]))
  let base = 0
  for (const s of sources) {
    if (s.kind === 'csv') await fillFromCsv(s, featureIndex, table, base, opts.signal)
    else await fillFromParquet(s, featureIndex, table, base, opts.signal)
    base += s.rows
    opts.progress?.(`read ${s.path} (${s.rows} rows)`)
  }
  return table
}

async function fillFromCsv(
  s: Source,
  featureIndex: ReadonlyMap<string, number>,
  t: RawTable,
  base: number,
  signal?: AbortSignal,
): Promise<void> {
  const ncols = s.columns.length
  const slot = Int32Array.from(s.columns, (c) => featureIndex.get(c) ?? -1)
  const [hi, ei, wi, li] = REQUIRED_COLUMNS.map((c) => s.columns.indexOf(c))
  const nf = featureIndex.size
  const X = t.X
  let header = true
  let dataRow = 0
  await readCsvRecords(
    s.path,
    (rec) => {
      if (header) {
        header = false
        return
      }
      dataRow++
      const where = (column?: string) => ({ file: s.path, row: dataRow, line: rec.line, column })
      if (dataRow > s.rows)
        throw new DatasetError(where(), 'more records than the first pass counted: use LF or CRLF line endings')
      if (rec.count !== ncols)
        throw new DatasetError(where(), `expected ${ncols} fields like the header, got ${rec.count}`)
      const r = base + dataRow - 1
      t.host[r] = t.hosts.id(requiredText(rec.text(hi), where('host')))
      t.episode[r] = t.episodes.id(requiredText(rec.text(ei), where('episode')))
      t.label[r] = t.labels.id(requiredText(rec.text(li), where('label')))
      t.window[r] = windowValue(parseNumberCell(rec.buf, rec.start[wi], rec.end[wi]), rec.text(wi), where('window'))
      if (nf === 0) return
      const off = r * nf
      const buf = rec.buf
      for (let c = 0; c < ncols; c++) {
        const k = slot[c]
        if (k < 0) continue
        const v = parseNumberCell(buf, rec.start[c], rec.end[c])
        if (v === undefined)
          throw new DatasetError(
            where(s.columns[c]),
            `${JSON.stringify(rec.text(c))} is not a number (features are numeric; empty, NaN or ? mean missing)`,
          )
        X[off + k] = v
      }
    },
    { signal },
  )
  if (dataRow !== s.rows)
    throw new DatasetError(
      { file: s.path },
      `read ${dataRow} records but counted ${s.rows}: check quoting and line endings`,
    )
}

function requiredText(text: string, where: { file: string; row: number; column?: string }): string {
  if (text === '') throw new DatasetError(where, 'empty value in a required column')
  return text
}

function windowValue(v: unknown, text: string, where: { file: string; row: number; column?: string }): number {
  const n = typeof v === 'bigint' ? Number(v) : v
  if (typeof n !== 'number' || !Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 31)
    throw new DatasetError(where, `${JSON.stringify(text)} is not an integer window index`)
  return n
}

async function fillFromParquet(
  s: Source,
  featureIndex: ReadonlyMap<string, number>,
  t: RawTable,
  base: number,
  signal?: AbortSignal,
): Promise<void> {
  const src = s.parquet!
  const nf = featureIndex.size
  const wanted = s.columns.filter((c) => featureIndex.has(c) || (REQUIRED_COLUMNS as readonly string[]).includes(c))
  for (const c of wanted) {
    const type = src.types[s.columns.indexOf(c)]
    if (featureIndex.has(c) && !['INT32', 'INT64', 'FLOAT', 'DOUBLE', 'BOOLEAN'].includes(type))
      throw new DatasetError({ file: s.path, column: c }, `parquet type ${type} is not numeric (features are numeric)`)
  }
  const X = t.X
  await readParquetColumns(
    src,
    wanted,
    ({ column, values, rowStart }) => {
      const n = Math.min(values.length, s.rows - rowStart)
      const where = (i: number) => ({ file: s.path, row: rowStart + i + 1, column })
      const k = featureIndex.get(column)
      if (k !== undefined) {
        for (let i = 0; i < n; i++) {
          const v = values[i]
          const num =
            typeof v === 'number'
              ? v
              : v === null || v === undefined
                ? Number.NaN
                : typeof v === 'bigint'
                  ? Number(v)
                  : typeof v === 'boolean'
                    ? Number(v)
                    : undefined
          if (num === undefined) throw new DatasetError(where(i), `${String(v)} is not a number`)
          X[(base + rowStart + i) * nf + k] = num
        }
        return
      }
      if (column === 'window') {
        for (let i = 0; i < n; i++) t.window[base + rowStart + i] = windowValue(values[i], String(values[i]), where(i))
        return
      }
      const [ids, interner] =
        column === 'host' ? [t.host, t.hosts] : column === 'episode' ? [t.episode, t.episodes] : [t.label, t.labels]
      for (let i = 0; i < n; i++) {
        const v = values[i]
        if (v === null || v === undefined || v === '')
          throw new DatasetError(where(i), 'empty value in a required column')
        ids[base + rowStart + i] = interner.id(String(v))
      }
    },
    { signal },
  )
}

/** Ranks names, orders rows by (host, episode, window), and computes the schema hash. */
function finish(name: string, mode: string, features: readonly string[], t: RawTable): Dataset {
  const hosts = t.hosts.sorted()
  const episodes = t.episodes.sorted()
  const labels = t.labels.sorted()
  applyRank(t.host, hosts.rank)
  applyRank(t.episode, episodes.rank)
  applyRank(t.label, labels.rank)
  const { order, duplicate } = rowOrder(t.host, t.episode, t.window)
  if (duplicate !== undefined) {
    const [a, b] = duplicate.map((r) => locate(t.sources, r))
    throw new DatasetError(
      b,
      `duplicate row: host "${hosts.names[t.host[duplicate[1]]]}", episode "${episodes.names[t.episode[duplicate[1]]]}", ` +
        `window ${t.window[duplicate[1]]} also appears in ${a.file} row ${a.row}`,
    )
  }
  let host = t.host
  let episode = t.episode
  let label = t.label
  let window = t.window
  if (order !== null) {
    permuteRowsInPlace(t.X, features.length, order)
    host = gather(host, order)
    episode = gather(episode, order)
    label = gather(label, order)
    window = gather(window, order)
  }
  return {
    name,
    mode,
    features: [...features],
    classes: labels.names,
    rows: t.rows,
    X: t.X,
    y: label,
    hosts: hosts.names,
    hostOf: host,
    episodes: episodes.names,
    episodeOf: episode,
    window,
    schemaHash: schemaHash(features, labels.names),
  }
}

/** File and 1-based row of a row index in read order. */
function locate(sources: readonly Source[], r: number): { file: string; row: number } {
  let base = 0
  for (const s of sources) {
    if (r < base + s.rows) return { file: s.path, row: r - base + 1 }
    base += s.rows
  }
  return { file: sources[sources.length - 1].path, row: r - base + 1 }
}
