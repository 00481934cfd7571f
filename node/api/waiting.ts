import type { DerivedJob } from '../../crdt/index.ts'
import type { HostPolicy, JobSpec } from '../../manifests/index.ts'
import { type IneligibleReason, ineligibility } from '../scheduler/index.ts'
import type { WorkerInfo } from './fleet-view.ts'

/** Runs at once on a host without a `[hosts.NAME]` policy (the scheduler's default). */
const DEFAULT_MAX_CONCURRENT = 1

function jobNeeds(reason: IneligibleReason, spec: JobSpec, live: readonly WorkerInfo[]): string | null {
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
    case 'host_policy':
      return null
    default:
      return `needs the ${reason.slice('runtime:'.length)} runtime`
  }
}

function policyText(host: string, spec: JobSpec, policy: HostPolicy | undefined): string {
  if (policy !== undefined && policy.allow_jobs.length > 0 && !policy.allow_jobs.includes(spec.model)) {
    return `${host} allows only ${policy.allow_jobs.join(', ')}`
  }
  return `${host} denies ${spec.model}`
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
  const live = workers.filter((w) => w.reachable)
  if (live.length === 0) return 'no live peer: no worker is reachable from this node'
  const hosts = Object.fromEntries(hostPolicies)
  const reasons: string[] = []
  const eligible: WorkerInfo[] = []
  for (const w of live) {
    const reason = ineligibility({ ...w.capability, hostname: w.hostname }, job.spec, hosts)
    if (reason === null) {
      eligible.push(w)
      continue
    }
    const text = jobNeeds(reason, job.spec, live) ?? policyText(w.hostname, job.spec, hostPolicies.get(w.hostname))
    if (!reasons.includes(text)) reasons.push(text)
  }
  if (eligible.length === 0) return `no live peer may run it: ${reasons.join('; ')}`
  const limit = (w: WorkerInfo) => hostPolicies.get(w.hostname)?.max_concurrent ?? DEFAULT_MAX_CONCURRENT
  const free = eligible.filter((w) => w.running.length < limit(w))
  const names = (ws: readonly WorkerInfo[]) => ws.map((w) => w.hostname || w.peer_id).join(', ')
  if (free.length === 0) {
    const busy = eligible.map((w) => `${w.hostname || w.peer_id} (${w.running.length}/${limit(w)})`).join(', ')
    return `every live peer that may run it is busy: ${busy}`
  }
  const ahead = jobs.filter(
    (j) => j.status === 'pending' && j.id !== job.id && j.spec.priority > job.spec.priority,
  ).length
  const queue = ahead > 0 ? `; ${ahead} pending job(s) of higher priority go first` : ''
  return `waiting to be claimed by ${names(free)}${queue}`
}
