import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { type ColumnSource, fileWriter, ParquetWriter, schemaFromColumnData } from 'hyparquet-writer'
import { DatasetError } from './errors.ts'
import { Prng } from './prng.ts'

/** Options of the synthetic telemetry generator. */
export interface SynthOptions {
  /** Host names, one data file each. @default DEFAULT_SYNTH.hosts */
  readonly hosts?: readonly string[]
  /** Episodes **per host**. @default 567 */
  readonly episodes?: number
  /** Windows per episode. @default 40 (582 reaches the full seed scale of ~660k windows with 2 hosts) */
  readonly windows?: number
  /** Feature columns in total (realistic + oracle). @default 230 */
  readonly features?: number
  /** Realistic features; the other `features - realisticFeatures` are named `oracle_*`. @default 145 */
  readonly realisticFeatures?: number
  /** Number of classes (one label per episode). @default 6 */
  readonly classes?: number
  readonly seed?: number
  /** @default 'csv' */
  readonly format?: 'csv' | 'parquet'
  /** `name` in dataset.toml. @default 'synthetic' */
  readonly name?: string
}

/** Defaults of {@link SynthOptions}: the seed study's hosts, episode count and feature counts. */
export const DEFAULT_SYNTH = {
  hosts: ['elliott-thinkpad', 'k-gamingcom'],
  episodes: 567,
  windows: 40,
  features: 230,
  realisticFeatures: 145,
  classes: 6,
  seed: 0,
  format: 'csv',
  name: 'synthetic',
} as const satisfies Required<SynthOptions>

/** What `synthesizeDataset` wrote. */
export interface SynthSummary {
  readonly dir: string
  /** Data files, relative to `dir`. */
  readonly files: readonly string[]
  readonly rows: number
  readonly hosts: readonly string[]
  readonly episodesPerHost: number
  readonly windows: number
  readonly features: readonly string[]
  readonly classes: readonly string[]
  readonly seed: number
  readonly format: 'csv' | 'parquet'
}

const CLASS_NAMES = ['idle', 'browsing', 'video', 'gaming', 'compile', 'download', 'office', 'backup']
const FEATURE_GROUPS = ['cpu', 'mem', 'disk', 'net', 'gpu', 'power', 'temp', 'proc']
/** Within-episode AR(1) coefficient of the noise: neighbouring windows are alike. */
const AR_RHO = 0.8
/** Rows per parquet row group. */
const PARQUET_BLOCK_ROWS = 65536

/**
 * Writes a synthetic multi-host telemetry dataset (one file per host plus dataset.toml).
 *
 * @remarks The generative model, all drawn from `seed`:
 * - each episode has one label, drawn from a host-specific class prior;
 * - feature j of class c has mean `mu[c][j]`: oracle features (`oracle_*`) are strongly
 *   class-dependent, about 60% of realistic features weakly so, the rest pure noise, and
 *   every 10th realistic feature carries its class signal only as an oscillation whose
 *   frequency depends on the class (random phase per episode), which only a model that
 *   sees several windows can use;
 * - the noise is AR(1) across an episode's windows (rho 0.8) plus an episode offset;
 * - each host perturbs the class means, rescales and shifts every feature, and adds
 *   more noise the later it comes in `hosts` (the first host is the easiest to fit), so
 *   a model trained on one host does worse on another: the cross-device gap;
 * - every 5th feature is flaky: 10% of its cells are missing;
 * - values get a per-feature scale (0.1 to 100) and offset, rounded to 4 decimals, so
 *   CSV and parquet hold the very same float32 values.
 * Output is streamed (one episode in memory for CSV, one 64k-row group for parquet) into
 * a temporary directory renamed to `outDir` at the end.
 *
 * `outDir` may be missing or an empty directory; with `io.replace` it may also be a
 * dataset this function wrote before ({@link isSynthesizedDataset}). Anything else (a
 * file, a directory of other things) is refused and never touched.
 * @throws RangeError on bad options, DatasetError when `outDir` is a file or a non-empty
 * directory that may not be replaced.
 */
export async function synthesizeDataset(
  outDir: string,
  options: SynthOptions = {},
  io: { signal?: AbortSignal; progress?: (line: string) => void; replace?: boolean } = {},
): Promise<SynthSummary> {
  const opts = resolveOptions(options)
  const world = buildWorld(opts)
  const dir = resolve(outDir)
  assertEmptyOrMissing(dir, io.replace === true)
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`)
  rmSync(tmp, { recursive: true, force: true })
  // Parents first, then tmp alone: a recursive mkdir where entries cannot be created
  // (/proc) loops forever in Node.
  mkdirSync(dirname(dir), { recursive: true })
  mkdirSync(tmp)
  const files: string[] = []
  try {
    for (let h = 0; h < opts.hosts.length; h++) {
      io.signal?.throwIfAborted()
      const file = `${opts.hosts[h]}.${opts.format}`
      const path = join(tmp, file)
      if (opts.format === 'csv') writeHostCsv(path, world, h, io.signal)
      else await writeHostParquet(path, world, h, io.signal)
      files.push(file)
      io.progress?.(`wrote ${file} (${opts.episodes * opts.windows} windows)`)
    }
    writeText(join(tmp, 'dataset.toml'), datasetToml(opts))
    replaceDir(tmp, dir, io.replace === true)
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true })
    throw err
  }
  return {
    dir,
    files,
    rows: opts.hosts.length * opts.episodes * opts.windows,
    hosts: [...opts.hosts],
    episodesPerHost: opts.episodes,
    windows: opts.windows,
    features: world.featureNames,
    classes: world.classNames,
    seed: opts.seed,
    format: opts.format,
  }
}

type Resolved = {
  -readonly [K in keyof SynthOptions]-?: Exclude<SynthOptions[K], undefined>
}

function resolveOptions(o: SynthOptions): Resolved {
  const r: Resolved = {
    hosts: o.hosts ?? DEFAULT_SYNTH.hosts,
    episodes: o.episodes ?? DEFAULT_SYNTH.episodes,
    windows: o.windows ?? DEFAULT_SYNTH.windows,
    features: o.features ?? DEFAULT_SYNTH.features,
    realisticFeatures: o.realisticFeatures ?? Math.min(DEFAULT_SYNTH.realisticFeatures, o.features ?? Infinity),
    classes: o.classes ?? DEFAULT_SYNTH.classes,
    seed: o.seed ?? DEFAULT_SYNTH.seed,
    format: o.format ?? DEFAULT_SYNTH.format,
    name: o.name ?? DEFAULT_SYNTH.name,
  }
  const posInt = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what}: expected a positive integer, got ${v}`)
  }
  posInt(r.episodes, 'episodes')
  posInt(r.windows, 'windows')
  posInt(r.features, 'features')
  posInt(r.realisticFeatures, 'realistic features')
  if (r.realisticFeatures > r.features)
    throw new RangeError(`realistic features (${r.realisticFeatures}) cannot exceed features (${r.features})`)
  if (!Number.isInteger(r.classes) || r.classes < 2) throw new RangeError(`classes: expected an integer >= 2`)
  if (!Number.isInteger(r.seed) || r.seed < 0) throw new RangeError(`seed: expected a non-negative integer`)
  if (r.format !== 'csv' && r.format !== 'parquet')
    throw new RangeError(`format: expected csv or parquet, got ${String(r.format)}`)
  if (r.hosts.length === 0) throw new RangeError('hosts: expected at least one host name')
  for (const h of r.hosts) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(h))
      throw new RangeError(`host "${h}": expected letters, digits, ".", "_", "-" (it names a file)`)
  }
  if (new Set(r.hosts).size !== r.hosts.length) throw new RangeError('hosts: expected distinct names')
  if (!/^[^"\\\n]*$/.test(r.name)) throw new RangeError('name: expected no quotes, backslashes or newlines')
  return r
}

const SYNTH_MARK = '# Written by `cis490-node dataset synth`'

/**
 * Whether `dir` holds a dataset written by {@link synthesizeDataset} and nothing else:
 * dataset.toml with our first line, and only `*.csv` / `*.parquet` files beside it.
 */
export function isSynthesizedDataset(dir: string): boolean {
  try {
    if (!readFileSync(join(dir, 'dataset.toml'), 'utf8').startsWith(SYNTH_MARK)) return false
    return readdirSync(dir, { withFileTypes: true }).every(
      (e) => e.isFile() && (e.name === 'dataset.toml' || /^[A-Za-z0-9][A-Za-z0-9._-]*\.(csv|parquet)$/.test(e.name)),
    )
  } catch {
    return false
  }
}

function assertEmptyOrMissing(dir: string, replace: boolean): void {
  let st: ReturnType<typeof statSync>
  try {
    st = statSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR')
      throw new DatasetError({ file: dir }, 'a part of the path is a file, not a directory')
    return
  }
  if (!st.isDirectory())
    throw new DatasetError({ file: dir }, 'exists and is a file; refusing to replace it: choose a new --out directory')
  if (readdirSync(dir).length === 0) return
  if (replace && isSynthesizedDataset(dir)) return
  throw new DatasetError(
    { file: dir },
    replace
      ? 'exists and is not empty, and is not a dataset written by `dataset synth`: refusing to replace it'
      : 'exists and is not empty: choose a new --out directory (or --force to replace a dataset synth wrote)',
  )
}

/** Moves `tmp` to `dir`: over an empty `dir`, or (checked before) over our own dataset. */
function replaceDir(tmp: string, dir: string, replace: boolean): void {
  try {
    renameSync(tmp, dir)
    return
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (!replace || (code !== 'ENOTEMPTY' && code !== 'EEXIST')) throw err
  }
  // Re-check right before removing anything: only our own dataset goes.
  if (!isSynthesizedDataset(dir)) throw new DatasetError({ file: dir }, 'changed while writing; refusing to replace it')
  const old = `${tmp}-old`
  renameSync(dir, old)
  try {
    renameSync(tmp, dir)
  } catch (err) {
    renameSync(old, dir)
    throw err
  }
  rmSync(old, { recursive: true, force: true })
}

/** Everything drawn once per dataset: class means, host transforms, feature scales. */
interface World {
  readonly opts: Resolved
  readonly featureNames: string[]
  /** Sorted class names; class index c below indexes this list. */
  readonly classNames: string[]
  /** [c * F + j] class mean of feature j (latent units). */
  readonly mu: Float64Array
  /** [(h * C + c) * F + j] host-specific perturbation of the class mean. */
  readonly hostShift: Float64Array
  /** [h * F + j] host gain and bias. */
  readonly gain: Float64Array
  readonly bias: Float64Array
  /** Noise multiplier per host. */
  readonly noise: Float64Array
  /** Cumulative class prior per host: [h * C + c]. */
  readonly prior: Float64Array
  readonly scale: Float64Array
  readonly offset: Float64Array
  /** Missing probability per feature (0 for most). */
  readonly missing: Float64Array
  /** Oscillating (temporal) features: amplitude per feature, 0 = not temporal. */
  readonly oscAmp: Float64Array
  /** Angular frequency per class for oscillating features. */
  readonly oscFreq: Float64Array
}

function buildWorld(opts: Resolved): World {
  const F = opts.features
  const R = opts.realisticFeatures
  const C = opts.classes
  const H = opts.hosts.length
  const rng = new Prng(opts.seed, 0x5eed)
  const featureNames: string[] = []
  for (let j = 0; j < R; j++) {
    featureNames.push(`${FEATURE_GROUPS[j % FEATURE_GROUPS.length]}_${String(Math.floor(j / 8)).padStart(3, '0')}`)
  }
  for (let j = R; j < F; j++) featureNames.push(`oracle_${String(j - R).padStart(3, '0')}`)
  const classNames = Array.from({ length: C }, (_, c) =>
    c < CLASS_NAMES.length && C <= CLASS_NAMES.length ? CLASS_NAMES[c] : `class_${String(c).padStart(2, '0')}`,
  ).sort()

  const sep = new Float64Array(F)
  const oscAmp = new Float64Array(F)
  for (let j = 0; j < F; j++) {
    if (j >= R) sep[j] = 0.6
    else if (j % 10 === 9) oscAmp[j] = 1.2
    else sep[j] = rng.uniform() < 0.6 ? 0.35 : 0
  }
  const mu = new Float64Array(C * F)
  for (let i = 0; i < mu.length; i++) mu[i] = sep[i % F] * rng.gaussian()
  const hostShift = new Float64Array(H * C * F)
  for (let i = 0; i < hostShift.length; i++) hostShift[i] = 0.4 * sep[i % F] * rng.gaussian()
  const gain = new Float64Array(H * F)
  const bias = new Float64Array(H * F)
  for (let i = 0; i < H * F; i++) {
    gain[i] = Math.exp(0.25 * rng.gaussian())
    bias[i] = 0.5 * rng.gaussian()
  }
  const noise = new Float64Array(H)
  for (let h = 0; h < H; h++) noise[h] = 1 + (H > 1 ? (0.6 * h) / (H - 1) : 0)
  const prior = new Float64Array(H * C)
  for (let h = 0; h < H; h++) {
    let total = 0
    for (let c = 0; c < C; c++) {
      const w = Math.exp(0.4 * rng.gaussian())
      prior[h * C + c] = w
      total += w
    }
    let acc = 0
    for (let c = 0; c < C; c++) {
      acc += prior[h * C + c] / total
      prior[h * C + c] = acc
    }
    prior[h * C + C - 1] = 1
  }
  const scale = new Float64Array(F)
  const offset = new Float64Array(F)
  const missing = new Float64Array(F)
  for (let j = 0; j < F; j++) {
    scale[j] = 10 ** (rng.uniform() * 3 - 1)
    offset[j] = scale[j] * 4 * rng.uniform()
    if (j % 5 === 4) missing[j] = 0.1
  }
  const oscFreq = new Float64Array(C)
  for (let c = 0; c < C; c++) oscFreq[c] = (2 * Math.PI) / (3 + 2 * c)
  return {
    opts,
    featureNames,
    classNames,
    mu,
    hostShift,
    gain,
    bias,
    noise,
    prior,
    scale,
    offset,
    missing,
    oscAmp,
    oscFreq,
  }
}

/** The episode's name: unique across hosts, zero-padded so that string order is numeric order. */
function episodeName(world: World, h: number, e: number): string {
  const total = world.opts.hosts.length * world.opts.episodes
  const width = Math.max(5, String(total - 1).length)
  return `ep${String(h * world.opts.episodes + e).padStart(width, '0')}`
}

/**
 * Fills `out` (windows x F, already rounded to 4 decimals, NaN = missing) with one
 * episode and returns its class index.
 */
function generateEpisode(world: World, h: number, e: number, out: Float64Array): number {
  const { opts } = world
  const F = opts.features
  const C = opts.classes
  const W = opts.windows
  const rng = new Prng(opts.seed, 0xe915, h, e)
  const u = rng.uniform()
  let c = 0
  while (c < C - 1 && u >= world.prior[h * C + c]) c++
  const z = new Float64Array(F)
  const epOffset = new Float64Array(F)
  const phase = new Float64Array(F)
  for (let j = 0; j < F; j++) {
    z[j] = rng.gaussian()
    epOffset[j] = 0.4 * rng.gaussian()
    phase[j] = 2 * Math.PI * rng.uniform()
  }
  const innov = Math.sqrt(1 - AR_RHO * AR_RHO)
  const noise = world.noise[h]
  const freq = world.oscFreq[c]
  const muBase = c * F
  const shiftBase = (h * C + c) * F
  const hostBase = h * F
  for (let t = 0; t < W; t++) {
    const row = t * F
    for (let j = 0; j < F; j++) {
      if (t > 0) z[j] = AR_RHO * z[j] + innov * rng.gaussian()
      let latent = world.mu[muBase + j] + world.hostShift[shiftBase + j] + epOffset[j] + noise * z[j]
      const amp = world.oscAmp[j]
      if (amp !== 0) latent += amp * Math.sin(freq * t + phase[j])
      const v = world.offset[j] + world.scale[j] * (world.gain[hostBase + j] * latent + world.bias[hostBase + j])
      const p = world.missing[j]
      out[row + j] = p > 0 && rng.uniform() < p ? Number.NaN : Math.round(v * 1e4) / 1e4 + 0
    }
  }
  return c
}

function datasetToml(opts: Resolved): string {
  return [
    `# Written by \`cis490-node dataset synth\`: hosts ${opts.hosts.join(',')}, ${opts.episodes} episodes per host,`,
    `# ${opts.windows} windows per episode, ${opts.features} features (${opts.realisticFeatures} realistic),`,
    `# ${opts.classes} classes, seed ${opts.seed}.`,
    `name = "${opts.name}"`,
    '',
    '[modes.oracle]',
    'include = ["*"]',
    '',
    '[modes.realistic]',
    'exclude = ["oracle_*"]',
    '',
  ].join('\n')
}

function writeText(path: string, text: string): void {
  const fd = openSync(path, 'w')
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** A buffered synchronous file writer of ASCII text and fixed-point numbers. */
class CsvSink {
  private readonly fd: number
  private readonly buf = Buffer.allocUnsafe(1 << 22)
  private pos = 0

  constructor(path: string) {
    this.fd = openSync(path, 'w')
  }

  /** Makes room for `n` more bytes. */
  reserve(n: number): void {
    if (this.pos + n > this.buf.length) this.flush()
  }

  ascii(text: string): void {
    this.reserve(text.length)
    this.pos += this.buf.write(text, this.pos, 'latin1')
  }

  byte(b: number): void {
    this.buf[this.pos++] = b
  }

  /** Writes `v` (already a multiple of 1e-4) with up to 4 decimals, trailing zeros dropped. */
  fixed4(v: number): void {
    let n = Math.round(v * 1e4)
    const buf = this.buf
    if (n < 0) {
      buf[this.pos++] = 45 // '-'
      n = -n
    }
    const ip = Math.floor(n / 1e4)
    let fp = n - ip * 1e4
    this.uint(ip)
    if (fp === 0) return
    buf[this.pos++] = 46 // '.'
    let div = 1000
    while (fp !== 0) {
      const d = Math.floor(fp / div)
      buf[this.pos++] = 48 + d
      fp -= d * div
      div /= 10
    }
  }

  /** Writes a non-negative integer in decimal. */
  private uint(n: number): void {
    let digits = 1
    for (let p = 10; p <= n; p *= 10) digits++
    const buf = this.buf
    let at = this.pos + digits
    this.pos = at
    do {
      const q = Math.floor(n / 10)
      buf[--at] = 48 + (n - q * 10)
      n = q
    } while (n > 0)
  }

  flush(): void {
    let off = 0
    while (off < this.pos) off += writeSync(this.fd, this.buf, off, this.pos - off)
    this.pos = 0
  }

  close(): void {
    this.flush()
    fsyncSync(this.fd)
    closeSync(this.fd)
  }
}

function writeHostCsv(path: string, world: World, h: number, signal?: AbortSignal): void {
  const { opts } = world
  const F = opts.features
  const sink = new CsvSink(path)
  try {
    sink.ascii(`host,episode,window,label,${world.featureNames.join(',')}\n`)
    const ep = new Float64Array(opts.windows * F)
    const host = opts.hosts[h]
    for (let e = 0; e < opts.episodes; e++) {
      if ((e & 63) === 0) signal?.throwIfAborted()
      const c = generateEpisode(world, h, e, ep)
      const prefix = `${host},${episodeName(world, h, e)},`
      const label = world.classNames[c]
      for (let t = 0; t < opts.windows; t++) {
        sink.ascii(`${prefix}${t},${label}`)
        sink.reserve(F * 24 + 1)
        const row = t * F
        for (let j = 0; j < F; j++) {
          sink.byte(44) // ','
          const v = ep[row + j]
          if (!Number.isNaN(v)) sink.fixed4(v)
        }
        sink.byte(10) // '\n'
      }
    }
  } finally {
    sink.close()
  }
}

async function writeHostParquet(path: string, world: World, h: number, signal?: AbortSignal): Promise<void> {
  const { opts } = world
  const F = opts.features
  const W = opts.windows
  const perBlock = Math.max(1, Math.floor(PARQUET_BLOCK_ROWS / W))
  const writer = fileWriter(path)
  let pw: ParquetWriter | undefined
  const ep = new Float64Array(W * F)
  const host = opts.hosts[h]
  for (let e0 = 0; e0 < opts.episodes; e0 += perBlock) {
    signal?.throwIfAborted()
    const nEp = Math.min(perBlock, opts.episodes - e0)
    const n = nEp * W
    const hosts: string[] = new Array(n).fill(host)
    const episodes: string[] = new Array(n)
    const windows = new Int32Array(n)
    const labels: string[] = new Array(n)
    const cols = Array.from({ length: F }, () => new Float32Array(n))
    for (let k = 0; k < nEp; k++) {
      const c = generateEpisode(world, h, e0 + k, ep)
      const name = episodeName(world, h, e0 + k)
      for (let t = 0; t < W; t++) {
        const r = k * W + t
        episodes[r] = name
        windows[r] = t
        labels[r] = world.classNames[c]
        for (let j = 0; j < F; j++) cols[j][r] = ep[t * F + j]
      }
    }
    const columnData: ColumnSource[] = [
      { name: 'host', data: hosts, type: 'STRING', nullable: false },
      { name: 'episode', data: episodes, type: 'STRING', nullable: false },
      { name: 'window', data: windows, type: 'INT32', nullable: false },
      { name: 'label', data: labels, type: 'STRING', nullable: false },
      // PLAIN without statistics: the dictionary probe and min/max scans cost a third of
      // the write time and gain nothing on noisy floats.
      ...world.featureNames.map(
        (name, j): ColumnSource => ({
          name,
          data: cols[j],
          type: 'FLOAT',
          nullable: false,
          encoding: 'PLAIN',
          statistics: false,
        }),
      ),
    ]
    pw ??= new ParquetWriter({ writer, schema: schemaFromColumnData({ columnData }), createdBy: 'cis490-node synth' })
    await pw.write({ columnData, rowGroupSize: n })
  }
  await pw?.finish()
  const fd = openSync(path, 'r+')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
