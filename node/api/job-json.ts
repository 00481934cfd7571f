import { type DerivedJob, type JobAttempt, jobHistory, type VerifiedRecord } from '../../crdt/index.ts'
import type { HostPolicy } from '../../manifests/index.ts'
import type { FleetView, WorkerInfo } from './fleet-view.ts'
import { waitingReason, waitingReasons } from './waiting.ts'

/** One row of `GET /v1/jobs` and `cis490-node jobs --json` (CONTRACTS §6). */
export interface JobJson {
  id: string
  model: string
  mode: string
  status: DerivedJob['status']
  attempt: number
  max_attempts: number
  generation: number
  owner: string | null
  host: string | null
  priority: number
  bundle: string | null
  val_macro_f1: number | null
  test_macro_f1: number | null
  error: string | null
  /** ms since the epoch (the newest record's writer clock). */
  updated_at: number | null
}

/** One attempt in `GET /v1/jobs/{id}`. */
export type AttemptJson = JobAttempt

/** `GET /v1/jobs/{id}`: the job row, its spec, every attempt and why a pending job waits. */
export interface JobDetailJson extends JobJson {
  spec: Omit<DerivedJob['spec'], 'id'>
  attempts: AttemptJson[]
  /** Why a pending job is not running yet; null for any other status. */
  waiting: string | null
}

/** One row of `GET /v1/workers` and `cis490-node workers --json` (CONTRACTS §6, plus reachable and store). */
export type WorkerJson = WorkerInfo

/** One row of `GET /v1/results` and `cis490-node results --json` (CONTRACTS §6). */
export interface ResultJson {
  job: string
  model: string
  mode: string
  val_macro_f1: number | null
  test_macro_f1: number | null
  bundle: string | null
  host: string | null
  fit_seconds: number | null
}

/** A derived job as the contract's JSON row. */
export function jobJson(job: DerivedJob): JobJson {
  return {
    id: job.id,
    model: job.spec.model,
    mode: job.spec.mode,
    status: job.status,
    attempt: job.attempt,
    max_attempts: job.spec.max_attempts,
    generation: job.generation,
    owner: job.owner,
    host: job.host,
    priority: job.spec.priority,
    bundle: job.bundle,
    val_macro_f1: job.valMacroF1,
    test_macro_f1: job.testMacroF1,
    error: job.error,
    updated_at: job.updatedAt,
  }
}

/** What the detail of one job is built from. */
export interface JobDetailInputs {
  job: DerivedJob
  records: readonly VerifiedRecord[]
  workers: readonly WorkerInfo[]
  hostPolicies: ReadonlyMap<string, HostPolicy>
  /** Every job of the table (for the jobs ahead of a pending one). */
  jobs: readonly DerivedJob[]
}

/**
 * The job row plus its attempts and, for a pending job, why it waits.
 * @remarks The history has no lease observations of its own: an attempt it shows open
 * while the derived job is no longer claimed or running lapsed by this peer's clock.
 */
export function jobDetailJson(inputs: JobDetailInputs): JobDetailJson {
  const { job } = inputs
  const attempts = jobHistory(inputs.records, { spec: job.spec, hosts: inputs.hostPolicies })
  const last = attempts[attempts.length - 1]
  const open = (a: JobAttempt | undefined) => a !== undefined && (a.outcome === 'claimed' || a.outcome === 'running')
  if (open(last) && last.generation === job.generation && job.status !== 'claimed' && job.status !== 'running') {
    const lapsed = job.status === 'pending' || job.status === 'failed'
    attempts[attempts.length - 1] = {
      ...last,
      outcome: lapsed ? 'lapsed' : last.outcome,
      error: lapsed ? `lease lapsed on ${last.host || last.owner}` : last.error,
    }
  }
  const { id: _id, ...spec } = job.spec
  return {
    ...jobJson(job),
    spec,
    attempts,
    waiting: waitingReason(job, inputs.workers, inputs.hostPolicies, inputs.jobs),
  }
}

/** Completed jobs as result rows, best `val_macro_f1` first (unknown last), then best test F1, then id. */
export function resultsJson(jobs: readonly DerivedJob[]): ResultJson[] {
  const rank = (x: number | null) => (x === null ? Number.NEGATIVE_INFINITY : x)
  return jobs
    .filter((j) => j.status === 'completed')
    .sort(
      (a, b) =>
        rank(b.valMacroF1) - rank(a.valMacroF1) ||
        rank(b.testMacroF1) - rank(a.testMacroF1) ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    )
    .map((j) => ({
      job: j.id,
      model: j.spec.model,
      mode: j.spec.mode,
      val_macro_f1: j.valMacroF1,
      test_macro_f1: j.testMacroF1,
      bundle: j.bundle,
      host: j.host,
      fit_seconds: j.fitSeconds,
    }))
}

/** One row of the dashboard's job table: the contract row plus what the page shows besides. */
export interface DashboardJobJson extends JobJson {
  /** Why a pending job waits (`waitingReason`); null for any other status. */
  waiting: string | null
  test_hosts: string[]
  fit_seconds: number | null
}

/** A result row of the dashboard: the contract row plus the hosts it was tested on. */
export interface DashboardResultJson extends ResultJson {
  test_hosts: string[]
}

/** `GET /v1/dashboard`: one consistent snapshot of everything the dashboard's page draws. */
export interface DashboardJson {
  health: ReturnType<FleetView['health']>
  /** This node's clock (ms since the epoch), for ages. */
  now: number
  jobs: DashboardJobJson[]
  workers: WorkerJson[]
  results: DashboardResultJson[]
}

/** The dashboard's snapshot of a view (jobs by priority, highest first, then id). */
export function dashboardJson(view: FleetView, now: number): DashboardJson {
  const jobs = [...view.jobs()].sort(
    (a, b) => b.spec.priority - a.spec.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  )
  const workers = [...view.workers()]
  const waiting = waitingReasons(jobs, workers, view.hostPolicies())
  const testHosts = new Map(jobs.map((j) => [j.id as string, [...(j.spec.split.test_hosts ?? [])]]))
  return {
    health: view.health(),
    now,
    jobs: jobs.map((j) => ({
      ...jobJson(j),
      waiting: waiting.get(j.id) ?? null,
      test_hosts: testHosts.get(j.id) ?? [],
      fit_seconds: j.fitSeconds,
    })),
    workers,
    results: resultsJson(jobs).map((r) => ({ ...r, test_hosts: testHosts.get(r.job) ?? [] })),
  }
}
