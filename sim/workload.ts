import { type HostPolicy, type JobSpec, jobId } from '../manifests/index.ts'
import { MODEL_NAMES } from '../models/registry/index.ts'
import { type HostCapability, mayRun } from '../node/index.ts'
import type { Prng } from './prng.ts'

/** A simulated host: what it offers and how fast it trains. */
export interface SimHost {
  readonly capability: HostCapability
  /** Multiplies every run's duration on this host. */
  readonly speed: number
}

/** The fleet and the jobs of one run. */
export interface Workload {
  readonly hosts: readonly SimHost[]
  /** `[hosts.*]` policies, shared by every peer's trust config. */
  readonly policies: ReadonlyMap<string, HostPolicy>
  /** Every job of the run, in manifest order. */
  readonly jobs: readonly JobSpec[]
  /** How many of `jobs` the first manifest load holds; the rest come with a reload. */
  readonly initialJobs: number
  /** Base training time of each job (virtual ms), by id. */
  readonly trainMs: ReadonlyMap<string, number>
}

/** Hostname of peer `i`. */
export function hostName(i: number): string {
  return `h${String(i).padStart(3, '0')}`
}

/**
 * Heterogeneous hosts: about a third with CUDA (at least one when there are two hosts or
 * more, and at least one without), various RAM and cores, a few without XGBoost or
 * TensorFlow.js, and host policies with allow/deny lists and `max_concurrent` 1-3.
 */
function makeHosts(n: number, rng: Prng): { hosts: SimHost[]; policies: Map<string, HostPolicy> } {
  const hosts: SimHost[] = []
  const policies = new Map<string, HostPolicy>()
  for (let i = 0; i < n; i++) {
    let cuda = rng.chance(0.3)
    if (n >= 2 && i === 0) cuda = true
    if (n >= 2 && i === 1) cuda = false
    const r = rng.next()
    const runtimes: HostCapability['runtimes'] = r < 0.85 ? ['xgboost', 'tfjs'] : r < 0.95 ? ['tfjs'] : ['xgboost']
    const capability: HostCapability = {
      hostname: hostName(i),
      cuda,
      vram_gib: cuda ? rng.pick([8, 12, 16, 24, 48]) : 0,
      ram_gib: rng.pick([8, 16, 32, 64, 128]),
      cores: rng.pick([4, 8, 16, 32]),
      runtimes,
    }
    hosts.push({ capability, speed: rng.range(0.7, 1.3) })
    const policy: HostPolicy = { allow_jobs: [], deny_jobs: [], max_concurrent: 1 + rng.int(3) }
    const p = rng.next()
    if (p < 0.15) policy.allow_jobs = rng.shuffled(MODEL_NAMES).slice(0, 3 + rng.int(4))
    else if (p < 0.4) policy.deny_jobs = rng.shuffled(MODEL_NAMES).slice(0, 1 + rng.int(2))
    policies.set(capability.hostname, policy)
  }
  return { hosts, policies }
}

function makeJob(index: number, rng: Prng, hosts: readonly SimHost[]): Omit<JobSpec, 'id'> {
  const requireCuda = rng.chance(0.1)
  return {
    model: rng.pick(MODEL_NAMES),
    mode: 'realistic',
    hyper: {},
    split: {},
    train_hosts: [],
    seed: index,
    priority: rng.pick([0, 0, 10, 50, 100]),
    require_cuda: requireCuda,
    prefer_cuda: rng.chance(0.2),
    min_vram_gib: requireCuda && rng.chance(0.3) ? rng.pick([8, 16]) : 0,
    min_ram_gib: rng.chance(0.2) ? rng.pick([16, 32, 64]) : 0,
    allowed_hosts: rng.chance(0.1)
      ? rng
          .shuffled(hosts.map((h) => h.capability.hostname))
          .slice(0, 1 + rng.int(3))
          .sort()
      : [],
    max_attempts: rng.pick([1, 2, 3, 3, 3]),
  }
}

/** The spec with its id. */
export function withId<M extends string = JobSpec['model']>(body: Omit<JobSpec<M>, 'id'>): JobSpec<M> {
  return { id: jobId(body), ...body }
}

/**
 * Generates the hosts, policies and `jobs` jobs of a run; every job has at least one host
 * that may run it (constraints are relaxed until one does).
 */
export function makeWorkload(
  peers: number,
  jobs: number,
  rng: Prng,
  opts: { reloadShare: number; trainMinMs: number; trainMaxMs: number },
): Workload {
  const { hosts, policies } = makeHosts(peers, rng)
  const specs: JobSpec[] = []
  const trainMs = new Map<string, number>()
  for (let i = 0; i < jobs; i++) {
    let body = makeJob(i, rng, hosts)
    const runnable = (b: Omit<JobSpec, 'id'>) => hosts.some((h) => mayRun(h.capability, withId(b), policies))
    const relax: ((b: Omit<JobSpec, 'id'>) => Omit<JobSpec, 'id'>)[] = [
      (b) => ({ ...b, allowed_hosts: [] }),
      (b) => ({ ...b, min_ram_gib: 0, min_vram_gib: 0 }),
      (b) => ({ ...b, require_cuda: false }),
      (b) => ({ ...b, model: 'knn' }),
      (b) => ({ ...b, model: MODEL_NAMES.find((m) => runnable({ ...b, model: m })) ?? b.model }),
    ]
    for (const step of relax) if (!runnable(body)) body = step(body)
    if (!runnable(body)) throw new Error(`workload: job ${i} has no host that may run it even relaxed`)
    const spec = withId(body)
    specs.push(spec)
    trainMs.set(spec.id, Math.round(rng.range(opts.trainMinMs, opts.trainMaxMs)))
  }
  const reload = jobs >= 2 ? Math.floor(jobs * opts.reloadShare) : 0
  return { hosts, policies, jobs: specs, initialJobs: jobs - reload, trainMs }
}
