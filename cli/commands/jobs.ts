import type { Command } from 'commander'
import { JOB_STATUS } from '../../crdt/index.ts'
import { shortId } from '../../manifests/index.ts'
import type { FleetView, JobDetailJson, JobJson, ResultJson, WorkerJson } from '../../node/api/index.ts'
import { colourEnabled, type Paint, statusPainter, yellow } from '../colour.ts'
import { UsageError } from '../errors.ts'
import { formatTable } from '../table.ts'
import { API_OPTION, apiClient } from './api-client.ts'

type Health = ReturnType<FleetView['health']>

const print = (text: string) => process.stdout.write(text)
const printJson = (value: unknown) => print(`${JSON.stringify(value, null, 2)}\n`)
/** Colours status words when stdout takes colour (a TTY, or FORCE_COLOR; never with a plain NO_COLOR). */
const stdoutPaint = (): Paint => statusPainter(colourEnabled(process.stdout))

/** `0.8123`, or `-` when unknown. */
export function f1Text(x: number | null): string {
  return x === null ? '-' : x.toFixed(4)
}

/** A ms-epoch time as `YYYY-MM-DD HH:MM:SS` UTC, or `-`. */
export function timeText(ms: number | null): string {
  if (ms === null) return '-'
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ')
}

/** How long ago `ms` was, coarsely (`12s ago`, `5m ago`, `3h ago`, `2d ago`). */
export function agoText(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 120) return `${s}s ago`
  if (s < 7200) return `${Math.round(s / 60)}m ago`
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`
  return `${Math.round(s / 86_400)}d ago`
}

/**
 * A job id or unique prefix, checked before it is sent.
 * @throws UsageError naming the input when it is not hex.
 */
export function idPrefixArg(id: string): string {
  if (!/^[0-9a-fA-F]{1,64}$/.test(id))
    throw new UsageError(`job id "${id}": expected hex digits (an id or a unique prefix)`)
  return id.toLowerCase()
}

const STATUSES: readonly string[] = Object.values(JOB_STATUS)

function jobRows(jobs: readonly JobJson[], paint: Paint): string[][] {
  return jobs.map((j) => [
    shortId(j.id),
    j.model,
    j.mode,
    paint(j.status),
    `${j.attempt}/${j.max_attempts}`,
    j.host ?? '-',
    String(j.priority),
    f1Text(j.val_macro_f1),
    f1Text(j.test_macro_f1),
    timeText(j.updated_at),
  ])
}

const JOB_HEADER = ['ID', 'MODEL', 'MODE', 'STATUS', 'ATTEMPT', 'HOST', 'PRIORITY', 'VAL F1', 'TEST F1', 'UPDATED']

function countsText(jobs: readonly JobJson[]): string {
  const counts = STATUSES.map((s) => [s, jobs.filter((j) => j.status === s).length] as const).filter(([, n]) => n > 0)
  return counts.length === 0 ? 'none' : counts.map(([s, n]) => `${n} ${s}`).join(', ')
}

function constraintsText(spec: JobDetailJson['spec']): string {
  const parts: string[] = []
  if (spec.require_cuda) parts.push('needs CUDA')
  else if (spec.prefer_cuda) parts.push('prefers CUDA')
  if (spec.min_vram_gib > 0) parts.push(`vram >= ${spec.min_vram_gib} GiB`)
  if (spec.min_ram_gib > 0) parts.push(`ram >= ${spec.min_ram_gib} GiB`)
  if (spec.allowed_hosts.length > 0) parts.push(`hosts ${spec.allowed_hosts.join(', ')}`)
  return parts.length > 0 ? parts.join('; ') : 'none'
}

/** `show`'s text; `paint` colours the status and the attempts' outcomes. */
export function showText(job: JobDetailJson, paint: Paint = (t) => t): string {
  const lines: [string, string][] = [
    ['job', job.id],
    ['model', `${job.model} (mode ${job.mode})`],
    ['status', `${paint(job.status)}, attempt ${job.attempt}/${job.max_attempts}, generation ${job.generation}`],
    ['priority', String(job.priority)],
    ['hyper', JSON.stringify(job.spec.hyper)],
    ['split', JSON.stringify(job.spec.split)],
    ['constraints', constraintsText(job.spec)],
  ]
  if (job.owner !== null) lines.push(['owner', `${job.host ?? '-'} (${job.owner})`])
  if (job.bundle !== null) lines.push(['bundle', job.bundle])
  if (job.status === 'completed') {
    lines.push(['macro F1', `val ${f1Text(job.val_macro_f1)}, test ${f1Text(job.test_macro_f1)}`])
  }
  if (job.error !== null) lines.push(['error', job.error])
  if (job.waiting !== null) lines.push(['waiting', job.waiting])
  lines.push(['updated', timeText(job.updated_at)])
  const width = Math.max(...lines.map(([k]) => k.length))
  let out = lines.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join('')
  if (job.attempts.length === 0) return `${out}\nno attempts yet\n`
  out += '\n'
  out += formatTable(
    ['GEN', 'ATTEMPT', 'ROUND', 'HOST', 'OUTCOME', 'CLAIMED', 'STARTED', 'ENDED', 'OWNER', 'ERROR'],
    job.attempts.map((a) => [
      String(a.generation),
      String(a.attempt),
      String(a.round),
      a.host || '-',
      paint(a.outcome),
      timeText(a.claimed_at),
      timeText(a.started_at),
      timeText(a.ended_at),
      a.owner,
      a.error ?? '',
    ]),
  )
  return out
}

function workerRows(workers: readonly WorkerJson[], now: number, paint: Paint): string[][] {
  return workers.map((w) => [
    w.hostname,
    paint(w.reachable ? 'yes' : 'no'),
    String(w.score),
    w.capability.cuda ? `${w.capability.vram_gib} GiB` : '-',
    `${w.capability.ram_gib} GiB`,
    String(w.capability.cores),
    w.running.length === 0 ? '-' : w.running.map(shortId).join(','),
    agoText(w.last_seen, now),
    w.peer_id,
  ])
}

/**
 * The warning `jobs` gives when no peer of the fleet is a store peer and some jobs have bundles:
 * those bundles are held only by the peers that trained them. Null when there is nothing to say.
 */
export function onlyOnTrainers(jobs: readonly JobJson[], workers: readonly WorkerJson[]): string | null {
  if (workers.some((w) => w.store)) return null
  const held = jobs.filter((j) => j.bundle !== null)
  if (held.length === 0) return null
  return (
    `no store peer in the fleet: the results of ${held.length} job(s) live only on their trainers ` +
    '(start one peer with --store to keep a copy of every bundle)'
  )
}

/** Registers `status`, `jobs`, `show`, `workers` and `results`: reads of a running node's API. */
export function registerJobsCommands(program: Command): void {
  program
    .command('status')
    .description("this node: its peer id, fleet, addresses, the workers it sees and the table's job counts")
    .option(...API_OPTION)
    .option('--json', 'print {peer_id, fleet, version, addresses, workers: {live, total}, jobs: {STATUS: n}}')
    .action(async (opts: { api?: string; json?: boolean }) => {
      const api = apiClient(opts)
      const [health, workers, jobs] = await Promise.all([
        api.get<Health>('/v1/health'),
        api.get<WorkerJson[]>('/v1/workers'),
        api.get<JobJson[]>('/v1/jobs'),
      ])
      const live = workers.filter((w) => w.reachable).length
      if (opts.json === true) {
        const counts = Object.fromEntries(STATUSES.map((s) => [s, jobs.filter((j) => j.status === s).length]))
        printJson({ ...health, workers: { live, total: workers.length }, jobs: counts })
        return
      }
      const lines: [string, string][] = [
        ['peer', health.peer_id],
        ['fleet', health.fleet],
        ['version', health.version],
        ['api', api.base],
        ...health.addresses.map((a, i): [string, string] => [i === 0 ? 'addresses' : '', a]),
        ['workers', `${live} live of ${workers.length} known`],
        ['jobs', `${jobs.length}: ${countsText(jobs)}`],
      ]
      if (health.addresses.length === 0) lines.splice(4, 0, ['addresses', '-'])
      const width = Math.max(...lines.map(([k]) => k.length))
      print(lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join('\n') + '\n')
    })

  program
    .command('jobs')
    .description("the fleet's job table as this node derives it, by priority")
    .option(...API_OPTION)
    .option('--status <status>', `only jobs in this state (${STATUSES.join(' | ')})`)
    .option('--model <model>', 'only jobs of this model')
    .option('--mode <mode>', 'only jobs of this feature mode')
    .option('--json', 'print the contract rows [{id, model, mode, status, attempt, max_attempts, ...}]')
    .action(async (opts: { api?: string; status?: string; model?: string; mode?: string; json?: boolean }) => {
      if (opts.status !== undefined && !STATUSES.includes(opts.status)) {
        throw new UsageError(`--status "${opts.status}": expected one of ${STATUSES.join(', ')}`)
      }
      const query = new URLSearchParams()
      if (opts.status !== undefined) query.set('status', opts.status)
      if (opts.model !== undefined) query.set('model', opts.model)
      if (opts.mode !== undefined) query.set('mode', opts.mode)
      const q = query.size > 0 ? `?${query}` : ''
      const api = apiClient(opts)
      const [jobs, workers] = await Promise.all([
        api.get<JobJson[]>(`/v1/jobs${q}`),
        api.get<WorkerJson[]>('/v1/workers'),
      ])
      const warning = onlyOnTrainers(jobs, workers)
      if (warning !== null) process.stderr.write(`${yellow('warning:', colourEnabled(process.stderr))} ${warning}\n`)
      if (opts.json === true) {
        printJson(jobs)
        return
      }
      print(formatTable(JOB_HEADER, jobRows(jobs, stdoutPaint())))
      print(`${jobs.length} job(s): ${countsText(jobs)}\n`)
    })

  program
    .command('show')
    .description('one job: its spec, every attempt (owner, host, times, outcome) and why it waits')
    .argument('<id>', 'a job id or unique prefix')
    .option(...API_OPTION)
    .option('--json', 'print the job row plus spec, attempts [{generation, attempt, round, ...}] and waiting')
    .action(async (id: string, opts: { api?: string; json?: boolean }) => {
      const job = await apiClient(opts).get<JobDetailJson>(`/v1/jobs/${idPrefixArg(id)}`)
      if (opts.json === true) printJson(job)
      else print(showText(job, stdoutPaint()))
    })

  program
    .command('workers')
    .description('the peers this node knows: capability, score, running jobs, when last seen')
    .option(...API_OPTION)
    .option('--json', 'print [{peer_id, hostname, score, capability, last_seen, running, reachable, store}]')
    .action(async (opts: { api?: string; json?: boolean }) => {
      const workers = await apiClient(opts).get<WorkerJson[]>('/v1/workers')
      if (opts.json === true) {
        printJson(workers)
        return
      }
      print(
        formatTable(
          ['HOST', 'LIVE', 'SCORE', 'CUDA', 'RAM', 'CORES', 'RUNNING', 'LAST SEEN', 'PEER'],
          workerRows(workers, Date.now(), stdoutPaint()),
        ),
      )
    })

  program
    .command('results')
    .description('completed jobs, best validation macro F1 first')
    .option(...API_OPTION)
    .option('--json', 'print [{job, model, mode, val_macro_f1, test_macro_f1, bundle, host, fit_seconds}]')
    .action(async (opts: { api?: string; json?: boolean }) => {
      const results = await apiClient(opts).get<ResultJson[]>('/v1/results')
      if (opts.json === true) {
        printJson(results)
        return
      }
      print(
        formatTable(
          ['JOB', 'MODEL', 'MODE', 'VAL F1', 'TEST F1', 'HOST', 'FIT', 'BUNDLE'],
          results.map((r) => [
            shortId(r.job),
            r.model,
            r.mode,
            f1Text(r.val_macro_f1),
            f1Text(r.test_macro_f1),
            r.host ?? '-',
            r.fit_seconds === null ? '-' : `${r.fit_seconds.toFixed(1)}s`,
            r.bundle ?? '-',
          ]),
        ),
      )
      print(`${results.length} completed job(s)\n`)
    })
}
