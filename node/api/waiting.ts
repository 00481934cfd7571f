import type { DerivedJob, TableJobSpec } from '../../crdt/index.ts'
import type { HostPolicy } from '../../manifests/index.ts'
import { type IneligibleReason, ineligibility } from '../scheduler/index.ts'
import type { WorkerInfo } from './fleet-view.ts'

/** Runs at once on a host without a `[hosts.NAME]` policy (the scheduler's default). */
const DEFAULT_MAX_CONCURRENT = 1

function jobNeeds(reason: IneligibleReason, spec: TableJobSpec, live: readonly WorkerInfo[]): string {
  const most = (f: (w: WorkerInfo) => number) => Math.max(0, ...live.map(f))
  switch (reason) {
    case 'require_cuda':
      return 'needs CUDA'
    case 'min_vram_gib':
      return `needs ${spec.min_vram_gib} GiB of VRAM (most on a live peer: ${most((w) => (w.capability.cuda ? w.capability.vram_gib : 0))} GiB)`
    case 'min_ram_gib':
      return `needs ${spec.min_ram_gib} GiB of RAM (most on a live peer: ${most((w) => w.capability.ram_gib)} GiB)`
    case 'allowed_hosts':
      return `only ${spec.allowed_hosts.join(', ')} may run it (allowed_hosts)`
    case 'unsupported':
      return `needs a newer cis490-node (model ${spec.model} or its hyper-parameters are unknown to this version)`
    case 'host_policy':
      return 'a host policy denies it'
    default:
      return `needs the ${reason.slice('runtime:'.length)} runtime`
  }
}

/** What `[hosts.NAME]` says against the job on this host, or null when it allows it. */
function policyText(host: string, spec: TableJobSpec, policy: HostPolicy | undefined): string | null {
  if (policy === undefined) return null
  const allow: readonly string[] = policy.allow_jobs
  const deny: readonly string[] = policy.deny_jobs
  if (allow.length > 0 && !allow.includes(spec.model)) return `${host} allows only ${allow.join(', ')}`
  return deny.includes(spec.model) ? `${host} denies ${spec.model}` : null
}

/**
 * Why `w` may not run the job: the scheduler's `ineligibility` for the job's own
 * constraints and runtime, with the host policy's check done here to name the list at fault.
 */
function whyNot(
  w: WorkerInfo,
  spec: TableJobSpec,
  hostPolicies: ReadonlyMap<string, HostPolicy>,
  live: readonly WorkerInfo[],
): string | null {
  if (w.trains === false) return `${w.hostname || w.peer_id} claims no jobs (it lacks the fleet dataset)`
  if (spec.allowed_hosts.length > 0 && !spec.allowed_hosts.includes(w.hostname))
    return jobNeeds('allowed_hosts', spec, live)
  const policy = policyText(w.hostname, spec, hostPolicies.get(w.hostname))
  if (policy !== null) return policy
  const reason = ineligibility({ ...w.capability, hostname: w.hostname }, spec)
  return reason === null ? null : jobNeeds(reason, spec, live)
}

/**
 * Why a pending job is not running yet, from the live workers' capabilities and the
 * fleet's host policies; null when the job is not pending.
 *
 * @remarks "Live" is what the node reaches now. The reasons mirror `ineligibility`, the
 * rule the scheduler itself applies, so the text names what would have to change
 * (a GPU host joining, a policy, a constraint). e.g.
 * `no live peer may run it: needs CUDA; cpu-box denies gbt`.
 */
export function waitingReason(
  job: DerivedJob,
  workers: readonly WorkerInfo[],
  hostPolicies: ReadonlyMap<string, HostPolicy>,
  jobs: readonly DerivedJob[] = [],
): string | null {
  if (job.status !== 'pending') return null
  const ahead = jobs.filter(
    (j) => j.status === 'pending' && j.id !== job.id && j.spec.priority > job.spec.priority,
  ).length
  return pendingReason(
    job,
    workers.filter((w) => w.reachable),
    hostPolicies,
    ahead,
  )
}

/**
 * `waitingReason` of every pending job of the table at once (the dashboard's column), by id.
 * @remarks Counts the higher-priority pending jobs from one sorted list instead of a scan per job.
 */
export function waitingReasons(
  jobs: readonly DerivedJob[],
  workers: readonly WorkerInfo[],
  hostPolicies: ReadonlyMap<string, HostPolicy>,
): Map<string, string> {
  const pending = jobs.filter((j) => j.status === 'pending')
  const priorities = pending.map((j) => j.spec.priority).sort((a, b) => a - b)
  const live = workers.filter((w) => w.reachable)
  const out = new Map<string, string>()
  for (const job of pending) {
    // pending jobs of strictly higher priority: those after the last index holding <= this one
    let lo = 0
    let hi = priorities.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (priorities[mid] <= job.spec.priority) lo = mid + 1
      else hi = mid
    }
    out.set(job.id, pendingReason(job, live, hostPolicies, priorities.length - lo))
  }
  return out
}

function pendingReason(
  job: DerivedJob,
  live: readonly WorkerInfo[],
  hostPolicies: ReadonlyMap<string, HostPolicy>,
  ahead: number,
): string {
  if (live.length === 0) return 'no live peer: no worker is reachable from this node'
  const reasons: string[] = []
  const eligible: WorkerInfo[] = []
  for (const w of live) {
    const text = whyNot(w, job.spec, hostPolicies, live)
    if (text === null) eligible.push(w)
    else if (!reasons.includes(text)) reasons.push(text)
  }
  if (eligible.length === 0) return `no live peer may run it: ${reasons.join('; ')}`
  const limit = (w: WorkerInfo) => hostPolicies.get(w.hostname)?.max_concurrent ?? DEFAULT_MAX_CONCURRENT
  const free = eligible.filter((w) => w.running.length < limit(w))
  const names = (ws: readonly WorkerInfo[]) => ws.map((w) => w.hostname || w.peer_id).join(', ')
  if (free.length === 0) {
    const busy = eligible.map((w) => `${w.hostname || w.peer_id} (${w.running.length}/${limit(w)})`).join(', ')
    return `every live peer that may run it is busy: ${busy}`
  }
  const queue = ahead > 0 ? `; ${ahead} pending job(s) of higher priority go first` : ''
  return `waiting to be claimed by ${names(free)}${queue}`
}
