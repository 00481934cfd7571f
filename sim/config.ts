import { DEFAULT_PEER_INIT, type PeerInit } from '../node/index.ts'

/** The faults the simulator can inject, each switchable on its own. */
export const FAULTS = ['crash', 'partition', 'drop', 'dup', 'reorder', 'skew', 'trainer', 'ops'] as const
export type Fault = (typeof FAULTS)[number]

/**
 * Parses a `--faults` value: comma-separated names from `FAULTS`, `all`, or `none`/empty.
 * @throws RangeError naming the unknown fault and the known ones.
 */
export function parseFaults(text: string | undefined): Fault[] {
  if (text === undefined || text.trim() === '' || text.trim() === 'none') return []
  const out = new Set<Fault>()
  for (const raw of text.split(',')) {
    const name = raw.trim()
    if (name === '') continue
    if (name === 'all') {
      for (const f of FAULTS) out.add(f)
      continue
    }
    if (!(FAULTS as readonly string[]).includes(name))
      throw new RangeError(`unknown fault "${name}": expected a comma-separated list of ${FAULTS.join(', ')}, or all`)
    out.add(name as Fault)
  }
  return FAULTS.filter((f) => out.has(f))
}

/** What a run simulates. */
export interface SimOptions {
  peers: number
  jobs: number
  seed: number
  faults: readonly Fault[]
  /**
   * Virtual seconds during which faults are injected; the run then heals, goes quiet and
   * continues until every job is terminal and every peer converged (or `maxVirtualS`).
   * Undefined: long enough for the workload (see `defaultDurationS`).
   */
  durationS?: number
  /** Overrides of the simulated timings and rates. */
  config?: Partial<SimConfig>
  /**
   * Whether the run first grows Automerge's heap to what its peers will need
   * (`reserveAutomergeHeap`). Default true; false measures the run without.
   */
  reserveHeap?: boolean
}

/**
 * Timings and rates of the simulated fleet (virtual ms and probabilities).
 *
 * @remarks Scaled down from the real node's (30 s leases, minutes of training) so that a
 * run needs few scheduler ticks per job while keeping the ratios that matter: network
 * latency and the decision interval well under the settle window, renewals several times
 * per lease and per settle window, runs often longer than a lease.
 */
export interface SimConfig {
  /** The fleet's lease (`lease_s`); the rest are the scheduler's `SchedulerInit`. */
  leaseMs: number
  renewMs: number
  /** Also the grace of the duplicate-run invariant: what a claim needs to reach every peer. */
  settleMs: number
  backoffBaseMs: number
  backoffMaxMs: number
  lapseStaggerMs: number
  /** Heartbeats (who a peer is, what it runs) this often. */
  heartbeatMs: number
  /** A peer merges what it received into its document at most this often (one Automerge call per merge). */
  mergeMs: number
  /** A peer re-derives and decides at most this long after news (records, renewals). */
  decideMs: number
  /** After a restart a peer claims nothing until a sync session delivered, or this long. */
  catchUpMs: number
  /** Anti-entropy: every peer sends its heads to `aeFanout` random peers this often. */
  aeMs: number
  aeFanout: number
  /** Sync sessions a peer opens on (re)connection with peers it finds itself behind. */
  syncFanout: number
  /** A change seen missing is asked for only if still missing this long after (it may be in flight). */
  wantDelayMs: number
  /** A missing change is asked for again after this long. */
  wantRetryMs: number
  /** Merged remote changes are persisted this often (local writes are persisted at once). */
  persistMs: number
  /** One-way latency of a message, uniform in [min, max). */
  latencyMinMs: number
  latencyMaxMs: number
  /** Extra random delay with the `reorder` fault (and no per-link FIFO). */
  reorderMaxMs: number
  /** With the `drop` and `dup` faults: the share of messages lost, and delivered twice. */
  dropRate: number
  dupRate: number
  /** A job's base training time, uniform in [min, max), times its host's speed (0.7-1.3). */
  trainMinMs: number
  trainMaxMs: number
  /** With the `trainer` fault: the share of runs that exit non-zero, and that run `slowFactor` times longer. */
  trainerFailRate: number
  slowRate: number
  slowFactor: number
  /** Mean virtual ms between crashes (fleet-wide), and how long a crashed peer stays down. */
  crashEveryMs: number
  crashDownMinMs: number
  crashDownMaxMs: number
  /** Mean virtual ms between partitions (one at a time), and how long one lasts before it heals. */
  partitionEveryMs: number
  partitionMinMs: number
  partitionMaxMs: number
  /** Largest clock offset (either sign) and drift (rate 1 ± this) with the `skew` fault. */
  skewMaxMs: number
  driftMax: number
  /** Forged operator commands per run (always injected; they must have no effect). */
  forgeries: number
  /** With the `ops` fault: legit cancels and requeues, each this share of the jobs (at least one). */
  opsShare: number
  /** With the `ops` fault: this share of the jobs arrives with a mid-run manifest reload. */
  reloadShare: number
  /** Hard limit of a run, virtual seconds after the fault window. */
  quietMaxS: number
}

/** The simulator's defaults. */
export const DEFAULT_SIM_CONFIG: Readonly<SimConfig> = {
  leaseMs: 4000,
  renewMs: 750,
  settleMs: 1500,
  backoffBaseMs: 500,
  backoffMaxMs: 8000,
  lapseStaggerMs: 1000,
  heartbeatMs: 20_000,
  mergeMs: 1000,
  decideMs: 200,
  catchUpMs: 5000,
  aeMs: 1000,
  aeFanout: 1,
  syncFanout: 1,
  wantDelayMs: 300,
  wantRetryMs: 400,
  persistMs: 2000,
  latencyMinMs: 5,
  latencyMaxMs: 40,
  reorderMaxMs: 150,
  dropRate: 0.05,
  dupRate: 0.03,
  trainMinMs: 1000,
  trainMaxMs: 6000,
  trainerFailRate: 0.15,
  slowRate: 0.1,
  slowFactor: 4,
  crashEveryMs: 6000,
  crashDownMinMs: 1000,
  crashDownMaxMs: 8000,
  partitionEveryMs: 20_000,
  partitionMinMs: 5000,
  partitionMaxMs: 15_000,
  skewMaxMs: 600_000,
  driftMax: 0.02,
  forgeries: 6,
  opsShare: 0.02,
  reloadShare: 0.1,
  quietMaxS: 600,
}

/**
 * A fault window long enough for the workload: the time the fleet needs to run every
 * job once at its mean training time, with slack for settling and retries.
 */
export function defaultDurationS(peers: number, jobs: number, config: SimConfig): number {
  const slots = Math.max(1, peers * 1.5)
  const perJob = (config.trainMinMs + config.trainMaxMs) / 2 + config.settleMs + config.decideMs
  return Math.max(20, Math.ceil(((jobs / slots) * perJob * 1.3) / 1000))
}

/**
 * The protocol settings simulated peers run: the production defaults with the
 * simulator's scaled timings (see `SimConfig`).
 */
export function simPeerInit(cfg: SimConfig): PeerInit {
  return {
    ...DEFAULT_PEER_INIT,
    leaseMs: cfg.leaseMs,
    renewMs: cfg.renewMs,
    settleMs: cfg.settleMs,
    backoffBaseMs: cfg.backoffBaseMs,
    backoffMaxMs: cfg.backoffMaxMs,
    lapseStaggerMs: cfg.lapseStaggerMs,
    decideMs: cfg.decideMs,
    catchUpMs: cfg.catchUpMs,
    mergeMs: cfg.mergeMs,
    aeMs: cfg.aeMs,
    aeFanout: cfg.aeFanout,
    syncFanout: cfg.syncFanout,
    wantDelayMs: cfg.wantDelayMs,
    wantRetryMs: cfg.wantRetryMs,
    persistMs: cfg.persistMs,
    heartbeatMs: cfg.heartbeatMs,
  }
}
