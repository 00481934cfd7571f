/**
 * Runs every benchmark of `bench/` (or a quick subset of small sizes) and prints one table
 * of ratios against the references each measures in the same run.
 *
 *   npm run bench [-- --quick] [--only a,b] [--skip a,b] [--json] [--markdown] [--verbose]
 *
 * Each bench runs as its own child process with `--json`, prints its usual lines and then one
 * JSON object as the last line of its stdout; the registry below turns that
 * object into rows: what was measured, ours, the reference, their ratio, the target and
 * whether it was met. Exit code: 0 when every bench ran and every target was met, 1 when a
 * bench failed or a target was missed, 2 on bad usage.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

/** A target on a row: `ratio >= 1` or `ours <= 60`. */
export interface Target {
  of: 'ratio' | 'ours'
  op: '>=' | '<='
  value: number
}

/** One line of a bench's result, as its registry entry reads it. */
export interface BenchRowInput {
  what: string
  ours: number
  /** The reference measured in the same run, when there is one. */
  reference?: number
  unit: string
  /** ours / reference unless given (some benches compute it round by round). */
  ratio?: number
  target?: Target
  /** A failed check that makes the row missed whatever its numbers (e.g. invariants violated). */
  broken?: string
}

/** A row of the table. */
export interface BenchRow extends Omit<BenchRowInput, 'ratio' | 'target'> {
  bench: string
  ratio: number | null
  target: string
  met: boolean | null
}

/** A bench the runner knows: how to run it (full and quick) and how to read its JSON. */
export interface BenchSpec {
  name: string
  /** The script, relative to `bench/` or absolute. */
  file: string
  args: string[]
  quickArgs: string[]
  rows: (result: Record<string, unknown>) => BenchRowInput[]
}

/** One bench's outcome. */
export interface BenchOutcome {
  name: string
  seconds: number
  rows: BenchRow[]
  error?: string
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v))
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
type Obj = Record<string, unknown>
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : [])

/** Every bench of `bench/`, its sizes and how its JSON becomes rows. */
export const BENCHES: BenchSpec[] = [
  {
    name: 'bundle-fetch',
    file: 'bundle-fetch.ts',
    args: ['--mb', '200', '--runs', '3'],
    quickArgs: ['--mb', '50', '--runs', '1'],
    rows: (r) => {
      const runs = arr(r.runs)
      const med = (path: string, key: string) => median(runs.filter((x) => x.path === path).map((x) => num(x[key])))
      const pnet = 'BlockService, pnet'
      const stock = 'stock bitswap, no pnet'
      return [
        {
          what: `${r.mb} MB bundle through pnet vs stock bitswap without pnet (median of per-round ratios)`,
          ours: med(pnet, 'mbPerSecond'),
          reference: med(stock, 'mbPerSecond'),
          unit: 'MB/s',
          ratio: num(r.pnetOverStockMedian),
          target: { of: 'ratio', op: '>=', value: 1 },
        },
        {
          what: 'the same, per CPU second of both peers',
          ours: med(pnet, 'mbPerCpuSecond'),
          reference: med(stock, 'mbPerCpuSecond'),
          unit: 'MB/cpu-s',
          ratio: num(r.pnetOverStockCpuMedian),
        },
        {
          what: "through pnet: FleetNet's SIMD cipher vs stock pnet's xsalsa20 (median per-round ratio)",
          ours: med(pnet, 'mbPerSecond'),
          reference: med('BlockService, stock pnet', 'mbPerSecond'),
          unit: 'MB/s',
          ratio: num(r.pnetOverStockPnetMedian),
        },
        {
          what: 'the same, per CPU second of both peers',
          ours: med(pnet, 'mbPerCpuSecond'),
          reference: med('BlockService, stock pnet', 'mbPerCpuSecond'),
          unit: 'MB/cpu-s',
          ratio: num(r.pnetOverStockPnetCpuMedian),
        },
        {
          what: 'through pnet vs a raw loopback TCP copy',
          ours: med(pnet, 'mbPerSecond'),
          reference: med('raw TCP copy', 'mbPerSecond'),
          unit: 'MB/s',
        },
        {
          what: 'peak RSS through pnet: provider vs idle',
          ours: med(pnet, 'providerRssMb'),
          reference: med(pnet, 'providerBaseRssMb'),
          unit: 'MB',
        },
        {
          what: 'peak RSS through pnet: fetcher vs idle',
          ours: med(pnet, 'fetcherRssMb'),
          reference: med(pnet, 'fetcherBaseRssMb'),
          unit: 'MB',
        },
      ]
    },
  },
  {
    name: 'sim-scale',
    file: 'sim-scale.ts',
    args: ['50x1000', '100x2000'],
    quickArgs: ['20x200'],
    rows: (r) => {
      const ref = r.reference as Obj
      return arr(r.sizes).map((s) => ({
        what: `simulator ${s.peers} x ${s.jobs}, every fault, wall vs the 10 x 100 reference`,
        ours: num(s.wall_s),
        reference: num(ref.wall_s),
        unit: 's',
        ...(num(s.peers) === 50 && num(s.jobs) === 1000
          ? { target: { of: 'ours', op: '<=', value: 60 } as Target }
          : {}),
        ...(s.ok === true ? {} : { broken: 'invariants violated' }),
      }))
    },
  },
  {
    name: 'fleet-sync',
    file: 'fleet-sync.ts',
    args: [],
    quickArgs: ['--quick'],
    rows: (r) =>
      arr(r.rows).map((x) => ({
        what: `signed reload of ${x.jobs} jobs reaching ${x.peers} real peers vs the simulator's prediction`,
        ours: num(x.measured_ms),
        ...(x.simulated_ms == null ? {} : { reference: num(x.simulated_ms) }),
        unit: 'ms',
      })),
  },
  {
    name: 'gbt',
    file: 'gbt.ts',
    args: [],
    quickArgs: ['20000', '145', '6', '5', '1'],
    rows: (r) => [
      {
        what: `GBT train ${r.rows} x ${r.features}, ${r.rounds} rounds vs Python xgboost (best wall)`,
        ours: num(r.ours_best_s),
        reference: num(r.python_best_s),
        unit: 's',
        target: { of: 'ratio', op: '<=', value: 1.1 },
        ...(r.same_trees === true ? {} : { broken: 'trees differ from Python' }),
      },
      {
        what: 'the same in CPU seconds',
        ours: num(r.ours_cpu_best_s),
        reference: num(r.python_cpu_best_s),
        unit: 'cpu-s',
      },
    ],
  },
  {
    name: 'knn',
    file: 'knn.ts',
    args: [],
    quickArgs: ['10000', '1000', '145', '10', '1'],
    rows: (r) => [
      {
        what: `KNN predict ${r.train} x ${r.features}, ${r.queries} queries vs scikit-learn brute (median wall)`,
        ours: num(r.ours_median_s),
        reference: num(r.sklearn_median_s),
        unit: 's',
        target: { of: 'ratio', op: '<=', value: 2 },
        ...(num(r.agree) === num(r.queries) ? {} : { broken: `${r.agree}/${r.queries} predictions equal` }),
      },
      {
        what: 'the same in CPU seconds',
        ours: num(r.ours_cpu_median_s),
        reference: num(r.sklearn_cpu_median_s),
        unit: 'cpu-s',
      },
    ],
  },
  {
    name: 'neural-throughput',
    file: 'neural-throughput.ts',
    args: [],
    quickArgs: ['mlp,lstm', '1', '6000', '2000'],
    rows: (r) =>
      arr(r.results).flatMap((x) => {
        const target: Target = { of: 'ratio', op: '>=', value: x.model === 'mlp' ? 1 : 0.7 }
        const fast = x.fast as Obj
        const torch = x.torch as Obj
        const label = `${x.model} training, ${x.threads} thread${x.threads === 1 ? '' : 's'}, vs PyTorch`
        return [
          {
            what: `${label} (wall)`,
            ours: num(fast.wps),
            reference: num(torch.wps),
            unit: 'windows/s',
            ratio: num(x.ratio_wall),
            target,
          },
          {
            what: `${label} (CPU)`,
            ours: num(fast.wpcs),
            reference: num(torch.wpcs),
            unit: 'windows/cpu-s',
            ratio: num(x.ratio_cpu),
            target,
          },
        ]
      }),
  },
  {
    name: 'dataset-scale',
    file: 'dataset-scale.ts',
    args: [],
    quickArgs: ['--windows', '20'],
    rows: (r) =>
      arr(r.formats).flatMap((f) => [
        ...(f.synth_s == null
          ? []
          : [
              {
                what: `${f.format} synth vs a raw write of the same bytes`,
                ours: num(f.synth_s),
                reference: num(f.raw_write_s),
                unit: 's',
              },
            ]),
        ...arr(f.loads).flatMap((l) => [
          {
            what: `${f.format} load (${l.mode}) vs a raw read`,
            ours: num(l.seconds),
            reference: num(l.raw_read_s),
            unit: 's',
          },
          {
            what: `${f.format} load (${l.mode}) peak RSS vs the float32 matrix`,
            ours: num(l.max_rss_mib),
            reference: num(l.matrix_mib),
            unit: 'MiB',
          },
        ]),
      ]),
  },
  {
    name: 'job-table-size',
    file: 'job-table-size.ts',
    args: ['10000'],
    quickArgs: ['1000'],
    rows: (r) => [
      {
        what: `job table of ${r.jobs} completed jobs: saved bytes a job vs records as strings`,
        ours: num(r.bytes_per_job),
        reference: num(r.reference_bytes_per_job),
        unit: 'B/job',
        target: { of: 'ours', op: '<=', value: 1024 },
      },
      {
        what: 'its load time vs records as strings',
        ours: num(r.load_s),
        reference: num(r.reference_load_s),
        unit: 's',
        target: { of: 'ours', op: '<=', value: 2 },
      },
    ],
  },
  {
    name: 'mlp-memory',
    file: 'mlp-memory.ts',
    args: [],
    quickArgs: ['20000'],
    rows: (r) => [
      {
        what: `MLP epoch on ${r.rows} x 145: peak RSS vs the dataset's RSS`,
        ours: num(r.peak_mib),
        reference: num(r.data_rss_mib),
        unit: 'MiB',
        target: { of: 'ours', op: '<=', value: 4096 },
      },
    ],
  },
  {
    name: 'train-memory',
    file: 'train-memory.ts',
    args: [],
    quickArgs: ['--windows', '8', '--gbt-rounds', '2'],
    rows: (r) =>
      arr(r.models).map((m) =>
        m.max_rss_mib == null
          ? {
              what: `cis490-node train ${m.model}: ${m.status}`,
              ours: Number.NaN,
              unit: 'MiB',
              broken: String(m.message ?? m.status),
            }
          : {
              what: `cis490-node train ${m.model} on ${r.rows} windows: peak RSS vs loading alone`,
              ours: num(m.max_rss_mib),
              reference: num((r.reference as Obj).max_rss_mib),
              unit: 'MiB',
            },
      ),
  },
  {
    name: 'neural-profile',
    file: 'neural-profile.ts',
    args: [],
    quickArgs: ['mlp', '40'],
    rows: (r) => [
      {
        what: `${r.model} training step on ${r.backend} (kernels ${num(r.kernels_pct).toFixed(0)}%, gather ${num(r.gather_pct).toFixed(0)}%)`,
        ours: num(r.ms_per_step),
        unit: 'ms/step',
      },
    ],
  },
]

function targetText(t: Target | undefined): string {
  return t === undefined ? '' : `${t.of} ${t.op} ${t.value}`
}

/** Turns a bench's rows into table rows: the ratio, the target text, met or not. */
export function toRows(bench: string, inputs: BenchRowInput[]): BenchRow[] {
  return inputs.map(({ ratio: given, target, broken, ...row }) => {
    const ratio =
      given ??
      (row.reference != null && row.reference !== 0 && Number.isFinite(row.ours) ? row.ours / row.reference : null)
    const value = target?.of === 'ratio' ? ratio : row.ours
    let met: boolean | null = null
    if (target !== undefined) {
      met =
        value != null && Number.isFinite(value) && (target.op === '>=' ? value >= target.value : value <= target.value)
    }
    if (broken !== undefined) met = false
    return {
      bench,
      ...row,
      ratio,
      target: broken === undefined ? targetText(target) : `${targetText(target)} (${broken})`.trim(),
      met,
      ...(broken === undefined ? {} : { broken }),
    }
  })
}

/** The last stdout line that parses as a JSON object. */
export function lastJsonObject(stdout: string): Record<string, unknown> | undefined {
  const lines = stdout.trim().split('\n')
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const v = JSON.parse(lines[i]) as unknown
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>
    } catch {}
  }
  return undefined
}

/** Options of {@link runBenches}. */
export interface RunOptions {
  quick?: boolean
  /** The Node binary (this process's by default). */
  node?: string
  /** Where relative `file`s live. @defaultValue this folder */
  dir?: string
  /** Called with each line a bench prints (its human output; JSON lines left out). */
  onOutput?: (bench: string, line: string) => void
  /** Called before and after each bench. */
  onProgress?: (bench: string, outcome?: BenchOutcome) => void
  /** Kill a bench after this long. @defaultValue 2 h (full), 10 min (quick) */
  timeoutMs?: number
}

/** Runs one bench child and reads its JSON. */
async function runOne(spec: BenchSpec, o: RunOptions): Promise<BenchOutcome> {
  const started = performance.now()
  const file = spec.file.startsWith('/') ? spec.file : join(o.dir ?? import.meta.dirname, spec.file)
  const args = [file, ...(o.quick ? spec.quickArgs : spec.args), '--json']
  const child = spawn(o.node ?? process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderrTail = ''
  const lineSplitter = () => {
    let pending = ''
    return (d: string) => {
      pending += d
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) if (!line.startsWith('{')) o.onOutput?.(spec.name, line)
    }
  }
  const outLines = lineSplitter()
  const errLines = lineSplitter()
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
    outLines(d)
  })
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderrTail = (stderrTail + d).slice(-4000)
    errLines(d)
  })
  const timeoutMs = o.timeoutMs ?? (o.quick ? 10 * 60_000 : 2 * 3600_000)
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGTERM')
  }, timeoutMs)
  const code = await new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(null))
    child.on('close', (c) => resolve(c))
  })
  clearTimeout(timer)
  const seconds = (performance.now() - started) / 1000
  const fail = (error: string): BenchOutcome => ({ name: spec.name, seconds, rows: [], error })
  if (timedOut) return fail(`timed out after ${Math.round(timeoutMs / 1000)} s`)
  const lastErr = stderrTail.trim().split('\n').slice(-3).join(' | ')
  if (code !== 0) return fail(`exit ${code}: ${lastErr}`)
  const result = lastJsonObject(stdout)
  if (result === undefined) return fail('printed no JSON object')
  try {
    return { name: spec.name, seconds, rows: toRows(spec.name, spec.rows(result)) }
  } catch (err) {
    return fail(`unreadable result: ${(err as Error).message}`)
  }
}

/** Runs `specs` one after another (they would skew each other's timings in parallel). */
export async function runBenches(
  specs: BenchSpec[],
  o: RunOptions = {},
): Promise<{ outcomes: BenchOutcome[]; exitCode: number }> {
  const outcomes: BenchOutcome[] = []
  for (const spec of specs) {
    o.onProgress?.(spec.name)
    const outcome = await runOne(spec, o)
    outcomes.push(outcome)
    o.onProgress?.(spec.name, outcome)
  }
  const ok = outcomes.every((b) => b.error === undefined && b.rows.every((r) => r.met !== false))
  return { outcomes, exitCode: ok ? 0 : 1 }
}

const fmt = (v: number | null | undefined): string => {
  if (v == null || !Number.isFinite(v)) return '-'
  const a = Math.abs(v)
  return a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3)
}

/** The table: one line per row, failed benches as a line each. */
export function formatTable(outcomes: BenchOutcome[], style: 'text' | 'markdown' = 'text'): string {
  const header = ['bench', 'what', 'ours', 'reference', 'ratio', 'target', 'met?']
  const lines: string[][] = []
  for (const b of outcomes) {
    if (b.error !== undefined) lines.push([b.name, `FAILED: ${b.error}`, '', '', '', '', 'no'])
    for (const r of b.rows) {
      const met = r.met === null ? '' : r.met ? 'yes' : 'NO'
      lines.push([
        r.bench,
        r.what,
        `${fmt(r.ours)} ${r.unit}`,
        r.reference == null ? '-' : `${fmt(r.reference)} ${r.unit}`,
        fmt(r.ratio),
        r.target,
        met,
      ])
    }
  }
  if (style === 'markdown') {
    const cell = (s: string) => s.replaceAll('|', '\\|')
    return [header, header.map(() => '---'), ...lines].map((l) => `| ${l.map(cell).join(' | ')} |`).join('\n')
  }
  const widths = header.map((h, i) => Math.min(i === 1 ? 70 : 40, Math.max(h.length, ...lines.map((l) => l[i].length))))
  const pad = (l: string[]) =>
    l
      .map((c, i) => (i === 1 && c.length > widths[i] ? `${c.slice(0, widths[i] - 1)}…` : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  return [pad(header), pad(widths.map((w) => '-'.repeat(w))), ...lines.map(pad)].join('\n')
}

/** The machine a run came from. */
export function machine(): string {
  let model = cpus()[0]?.model ?? 'unknown CPU'
  try {
    model = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? model
  } catch {}
  return `${model}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`
}

async function main(): Promise<number> {
  let values: { quick: boolean; only?: string; skip?: string; json: boolean; markdown: boolean; verbose: boolean }
  try {
    ;({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        skip: { type: 'string' },
        json: { type: 'boolean', default: false },
        markdown: { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
      },
    }))
  } catch (err) {
    console.error(`error: ${(err as Error).message}`)
    return 2
  }
  const names = new Set(BENCHES.map((b) => b.name))
  const list = (s: string | undefined) => (s === undefined ? [] : s.split(',').filter(Boolean))
  for (const n of [...list(values.only), ...list(values.skip)]) {
    if (!names.has(n)) {
      console.error(`error: unknown bench "${n}"; the benches: ${[...names].join(', ')}`)
      return 2
    }
  }
  const only = new Set(list(values.only))
  const skip = new Set(list(values.skip))
  const specs = BENCHES.filter((b) => (only.size === 0 || only.has(b.name)) && !skip.has(b.name))
  const before = machine()
  console.error(`${values.quick ? 'quick' : 'full'} run of ${specs.length} benches on ${before}`)
  const { outcomes, exitCode } = await runBenches(specs, {
    quick: values.quick,
    onOutput: values.verbose ? (b, line) => console.error(`  [${b}] ${line}`) : undefined,
    onProgress: (b, done) =>
      console.error(
        done === undefined
          ? `${b} ...`
          : `${b}: ${done.error === undefined ? 'done' : 'FAILED'} in ${done.seconds.toFixed(0)} s`,
      ),
  })
  const after = machine()
  if (values.json) {
    console.log(
      JSON.stringify({
        quick: values.quick,
        machine_before: before,
        machine_after: after,
        outcomes,
        exit_code: exitCode,
      }),
    )
  } else {
    console.log(formatTable(outcomes, values.markdown ? 'markdown' : 'text'))
    console.log(`\n${values.quick ? 'quick' : 'full'} run; before: ${before}\nafter: ${after}`)
  }
  return exitCode
}

if (process.argv[1] === import.meta.filename) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`internal error: ${(err as Error).stack ?? err}`)
      process.exit(1)
    },
  )
}
