import type { Command } from 'commander'
import {
  DEFAULT_SIM_CONFIG,
  FAULTS,
  parseFaults,
  runSimulation,
  type SimConfig,
  type SimReport,
} from '../../sim/index.ts'
import { RunError, UsageError } from '../errors.ts'

interface SimFlags {
  peers: string
  jobs: string
  seed: string
  faults?: string
  duration?: string
  seeds: string
  config?: string
  json?: boolean
}

/** Defaults of `sim`: a small fleet that finishes in a second or two. */
export const SIM_DEFAULTS = { peers: 8, jobs: 40, seed: 1, seeds: 1 } as const

function intOption(name: string, text: string, min: number, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} ${JSON.stringify(text)}: expected an integer from ${min} to ${max}`)
  return n
}

function configOption(text: string | undefined): Partial<SimConfig> | undefined {
  if (text === undefined) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new UsageError(`--config: expected a JSON object such as '{"settleMs":500}', got ${JSON.stringify(text)}`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new UsageError('--config: expected a JSON object of simulator settings')
  for (const [k, v] of Object.entries(parsed)) {
    if (!(k in DEFAULT_SIM_CONFIG))
      throw new UsageError(`--config: unknown setting "${k}"; known: ${Object.keys(DEFAULT_SIM_CONFIG).join(', ')}`)
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new UsageError(`--config: ${k} must be a non-negative number, got ${JSON.stringify(v)}`)
  }
  return parsed as Partial<SimConfig>
}

function summary(r: SimReport): string {
  const x = r.result
  const d = r.details
  const held = x.invariant_violations.length === 0
  return [
    `seed ${x.seed}: ${x.peers} peers, ${x.jobs} jobs, faults ${x.faults.length > 0 ? x.faults.join(',') : 'none'}`,
    `  ${x.virtual_seconds.toFixed(1)} virtual s (faults until ${d.quietAtS.toFixed(1)} s) in ${(x.wall_ms / 1000).toFixed(2)} s wall`,
    `  jobs: ${x.completed} completed, ${x.failed} failed, ${x.cancelled} cancelled, ${x.unfinished} unfinished`,
    `  runs: ${x.runs_started} started, ${x.duplicate_runs} duplicate while connected, ` +
      `${x.overlaps_across_partitions} overlapping across a disconnection, max attempt ${x.max_attempt_seen}`,
    `  network: ${x.messages_sent} messages, ${x.messages_dropped} dropped, ${d.messagesDuplicated} duplicated; ` +
      `${d.syncMessages} sync messages, ${d.wantsSent} wants`,
    `  faults: ${d.faults.crashes} crashes, ${d.restarts} restarts, ${d.faults.partitions} partitions ` +
      `(${d.faults.asymmetricPartitions} one-way); operator: ${d.operator.cancels} cancels, ${d.operator.requeues} requeues, ` +
      `${d.operator.loads} loads; ${d.operator.forged} forged commands`,
    `  converged: ${x.converged ? 'yes' : 'NO'}; document ${x.doc_bytes} bytes, ${d.records} records`,
    held ? '  invariants: all seven held' : `  invariants: ${x.invariant_violations.length} VIOLATED`,
  ].join('\n')
}

function violationText(r: SimReport): string {
  const lines: string[] = []
  for (const v of r.result.invariant_violations) {
    lines.push(
      `seed ${r.result.seed}: invariant ${v.invariant} (${v.name}) violated at ${(v.at_ms / 1000).toFixed(3)} s: ${v.message}`,
    )
    lines.push('  events that led to it:')
    for (const e of v.events) lines.push(`    ${e}`)
  }
  return lines.join('\n')
}

/** Registers `sim`: the deterministic many-peer simulator of the scheduling logic. */
export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description(
      'Simulate a fleet in one process: N peers with real job tables and the real scheduler, a virtual clock, ' +
        'a simulated network and injected faults, checking the seven invariants during and after the run. ' +
        `Faults: ${FAULTS.join(', ')} (ops = operator cancel/requeue/reload mid-run; forged operator commands ` +
        'are always injected), or all. The same seed gives the same result. Prints a summary, or with --json ' +
        'one object per seed: {seed, peers, jobs, faults, virtual_seconds, wall_ms, completed, failed, cancelled, ' +
        'unfinished, runs_started, duplicate_runs, overlaps_across_partitions, max_attempt_seen, converged, ' +
        'invariant_violations, doc_bytes, messages_sent, messages_dropped}. Exit 1 when an invariant is violated ' +
        '(the seed, the invariant and the events that led to it go to stderr).',
    )
    .option('--peers <n>', 'peers in the fleet', String(SIM_DEFAULTS.peers))
    .option('--jobs <m>', 'jobs in the manifest', String(SIM_DEFAULTS.jobs))
    .option('--seed <s>', 'the seed (a run is a pure function of it)', String(SIM_DEFAULTS.seed))
    .option('--faults <list>', `comma-separated faults to inject: ${FAULTS.join(',')}, or all`)
    .option('--duration <virtual-seconds>', 'how long faults are injected (default: enough for the workload)')
    .option(
      '--seeds <k>',
      'run k seeds: seed, seed+1, ... (one JSON object per line with --json)',
      String(SIM_DEFAULTS.seeds),
    )
    .option('--config <json>', 'override simulator settings, e.g. \'{"settleMs":0}\' (see sim/config.ts)')
    .option('--json', 'print JSON instead of a summary')
    .action(async (flags: SimFlags) => {
      const peers = intOption('peers', flags.peers, 1, 1000)
      const jobs = intOption('jobs', flags.jobs, 0, 1_000_000)
      const seed = intOption('seed', flags.seed, 0, Number.MAX_SAFE_INTEGER)
      const seeds = intOption('seeds', flags.seeds, 1, 1_000_000)
      let faults: ReturnType<typeof parseFaults>
      try {
        faults = parseFaults(flags.faults)
      } catch (err) {
        throw new UsageError(`--faults: ${(err as Error).message}`)
      }
      let durationS: number | undefined
      if (flags.duration !== undefined) {
        durationS = Number(flags.duration)
        if (!Number.isFinite(durationS) || durationS <= 0)
          throw new UsageError(
            `--duration ${JSON.stringify(flags.duration)}: expected a positive number of virtual seconds`,
          )
      }
      const config = configOption(flags.config)
      const failures: string[] = []
      for (let k = 0; k < seeds; k++) {
        const report = await runSimulation({ peers, jobs, seed: seed + k, faults, durationS, config })
        if (flags.json === true) process.stdout.write(`${JSON.stringify(report.result)}\n`)
        else process.stdout.write(`${summary(report)}\n`)
        if (report.result.invariant_violations.length > 0) {
          failures.push(violationText(report))
          if (flags.json !== true) process.stdout.write(`${violationText(report)}\n`)
        }
      }
      if (seeds > 1 && flags.json !== true)
        process.stdout.write(`${seeds} seeds from ${seed}: ${seeds - failures.length} held every invariant\n`)
      if (failures.length > 0) throw new RunError(`invariant violated\n${failures.join('\n')}`)
    })
}
