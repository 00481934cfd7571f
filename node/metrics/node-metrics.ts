import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { JOB_STATUS, type JobStatus, type LocallyLapsed } from '../../crdt/index.ts'
import type { PeerObserver } from '../peer/index.ts'
import { type ClaimCounts, ClaimTracker } from './claim-tracker.ts'

/** The network counters the metrics read (a `FleetNetStats` fits). */
export interface NetCounts {
  readonly gossipIn: number
  readonly gossipOut: number
  readonly messagesIn: number
  readonly messagesOut: number
  readonly bytesIn: number
  readonly bytesOut: number
  readonly connected: number
}

/** The block counters the metrics read (a `BlockServiceStats` fits). */
export interface BlockCounts {
  readonly fetchedBlocks: number
  readonly fetchedBytes: number
  readonly servedBlocks: number
  readonly servedBytes: number
  readonly storedBlocks: number
  readonly storedBytes: number
  readonly pinned: number
}

/** The peer core's counters the metrics read (a `PeerCoreStats` fits). */
export interface CoreCounts {
  readonly dropped: number
  readonly replica: { readonly syncSessions: number }
}

/**
 * What the node's parts report, read at every scrape. Each returns null while its part
 * is not running (its counters then read 0).
 */
export interface MetricSources {
  /** The job table as this node derives it now (what `/v1/jobs` lists). */
  jobs(): Iterable<{ readonly status: JobStatus }>
  core(): CoreCounts | null
  net(): NetCounts | null
  blocks(): BlockCounts | null
  /** Jobs whose lease lapsed by this node's observations (the core's `table.lapsed()`). */
  lapsed(): Iterable<LocallyLapsed>
}

/** How a training run ended, as the trainer saw it. */
export type TrainerRunOutcome = 'completed' | 'failed' | 'stopped'

/** One finished training run. */
export interface TrainerRunReport {
  readonly model: string
  readonly outcome: TrainerRunOutcome
  readonly seconds: number
}

/** Options of {@link NodeMetrics}. */
export interface NodeMetricsInit {
  /**
   * Also export Node's default process metrics (`process_cpu_seconds_total`,
   * `nodejs_heap_size_used_bytes`, ...), under their standard names.
   * @default true
   */
  processMetrics?: boolean
  /**
   * Bucket bounds of `cis490_trainer_run_duration_seconds`.
   * @default DEFAULT_RUN_BUCKETS (1 s to 6 h)
   */
  runBuckets?: readonly number[]
}

/** Training takes seconds (knn on small data) to hours (neural models on the full dataset). */
export const DEFAULT_RUN_BUCKETS: readonly number[] = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600]

/** Defaults of `NodeMetricsInit`. */
export const DEFAULT_NODE_METRICS_INIT: Readonly<Required<NodeMetricsInit>> = {
  processMetrics: true,
  runBuckets: DEFAULT_RUN_BUCKETS,
}

/** A metric without labels that mirrors one number a part keeps. */
interface ScalarMetric {
  readonly name: string
  readonly type: 'counter' | 'gauge'
  readonly help: string
  readonly read: (sources: MetricSources, claims: Readonly<ClaimCounts>) => number
}

const SCALARS: readonly ScalarMetric[] = [
  {
    name: 'cis490_lease_lapses_total',
    type: 'counter',
    help: 'Leases this node saw lapse (not renewed for lease_s), any owner.',
    read: (_, claims) => claims.lapses,
  },
  {
    name: 'cis490_sync_sessions_total',
    type: 'counter',
    help: 'Automerge sync sessions this node opened to catch up.',
    read: (s) => s.core()?.replica.syncSessions ?? 0,
  },
  {
    name: 'cis490_sync_messages_refused_total',
    type: 'counter',
    help: 'Peer messages dropped: they did not decode or carried something hostile.',
    read: (s) => s.core()?.dropped ?? 0,
  },
  {
    name: 'cis490_peers_connected',
    type: 'gauge',
    help: 'Peers this node has a connection to now.',
    read: (s) => s.net()?.connected ?? 0,
  },
  {
    name: 'cis490_blocks_fetched_total',
    type: 'counter',
    help: 'Blocks fetched from peers over bitswap (hash verified).',
    read: (s) => s.blocks()?.fetchedBlocks ?? 0,
  },
  {
    name: 'cis490_blocks_fetched_bytes_total',
    type: 'counter',
    help: 'Bytes of the blocks fetched from peers.',
    read: (s) => s.blocks()?.fetchedBytes ?? 0,
  },
  {
    name: 'cis490_blocks_served_total',
    type: 'counter',
    help: 'Blocks read from the store to answer peers over bitswap.',
    read: (s) => s.blocks()?.servedBlocks ?? 0,
  },
  {
    name: 'cis490_blocks_served_bytes_total',
    type: 'counter',
    help: 'Bytes of the blocks served to peers.',
    read: (s) => s.blocks()?.servedBytes ?? 0,
  },
  {
    name: 'cis490_blocks_stored',
    type: 'gauge',
    help: 'Blocks in the block store of this node.',
    read: (s) => s.blocks()?.storedBlocks ?? 0,
  },
  {
    name: 'cis490_blocks_stored_bytes',
    type: 'gauge',
    help: 'Bytes of the blocks in the block store of this node.',
    read: (s) => s.blocks()?.storedBytes ?? 0,
  },
  {
    name: 'cis490_bundles_pinned',
    type: 'gauge',
    help: 'Bundle roots pinned in the block store of this node.',
    read: (s) => s.blocks()?.pinned ?? 0,
  },
]

/**
 * One node's Prometheus metrics (`/metrics`), in a registry of its own.
 *
 * @remarks The parts keep plain counters (`FleetNet.stats()`, `BlockService.stats()`, the
 * core's `stats`); the collectors here read them at scrape time, so the parts know nothing
 * of Prometheus. Only what no part counts is fed by events: claims won and lost and lease
 * lapses (from the core's observer, through {@link ClaimTracker}) and trainer runs.
 * A registry per node, not prom-client's global one: tests run several nodes in one
 * process. The default process metrics keep their standard names (no `cis490_` prefix)
 * so that stock Node.js dashboards and alerts work on them unchanged; they describe the
 * process, not the fleet, and `job`/`instance` labels tell the nodes apart.
 */
export class NodeMetrics {
  readonly registry = new Registry()
  private readonly sources: MetricSources
  private readonly claims: ClaimTracker
  private readonly runs: Counter<'model' | 'outcome'>
  private readonly runSeconds: Histogram<'model' | 'outcome'>

  constructor(components: { sources: MetricSources; selfId: string }, init: NodeMetricsInit = {}) {
    const opts = {
      processMetrics: init.processMetrics ?? DEFAULT_NODE_METRICS_INIT.processMetrics,
      runBuckets: init.runBuckets ?? DEFAULT_NODE_METRICS_INIT.runBuckets,
    }
    this.sources = components.sources
    this.claims = new ClaimTracker({ selfId: components.selfId, lapsed: () => this.sources.lapsed() })
    const registers = [this.registry]
    const src = this.sources
    const claims = this.claims.counts

    new Gauge({
      name: 'cis490_jobs',
      help: 'Jobs in the job table as this node derives it, by status.',
      labelNames: ['status'],
      registers,
      collect() {
        const counts = new Map<string, number>(Object.values(JOB_STATUS).map((s) => [s, 0]))
        for (const job of src.jobs()) counts.set(job.status, (counts.get(job.status) ?? 0) + 1)
        for (const [status, n] of counts) this.set({ status }, n)
      },
    })
    new Counter({
      name: 'cis490_claims_total',
      help: 'Claims this node made, by outcome: won (it started the run) or lost (another claim won, or the round ended first).',
      labelNames: ['outcome'],
      registers,
      collect() {
        mirror(this, { outcome: 'won' }, claims.won)
        mirror(this, { outcome: 'lost' }, claims.lost)
      },
    })
    new Counter({
      name: 'cis490_sync_messages_total',
      help: 'Peer messages (job table sync, renewals, heartbeats) delivered and sent, by direction and channel.',
      labelNames: ['direction', 'channel'],
      registers,
      collect() {
        const n = src.net()
        mirror(this, { direction: 'in', channel: 'gossip' }, n?.gossipIn ?? 0)
        mirror(this, { direction: 'out', channel: 'gossip' }, n?.gossipOut ?? 0)
        mirror(this, { direction: 'in', channel: 'direct' }, n?.messagesIn ?? 0)
        mirror(this, { direction: 'out', channel: 'direct' }, n?.messagesOut ?? 0)
      },
    })
    new Counter({
      name: 'cis490_sync_bytes_total',
      help: 'Payload bytes of peer messages delivered and sent (no framing or encryption overhead), by direction.',
      labelNames: ['direction'],
      registers,
      collect() {
        const n = src.net()
        mirror(this, { direction: 'in' }, n?.bytesIn ?? 0)
        mirror(this, { direction: 'out' }, n?.bytesOut ?? 0)
      },
    })
    for (const m of SCALARS) {
      const read = () => m.read(src, claims)
      if (m.type === 'counter')
        new Counter({
          name: m.name,
          help: m.help,
          registers,
          collect() {
            this.reset()
            this.inc(read())
          },
        })
      else
        new Gauge({
          name: m.name,
          help: m.help,
          registers,
          collect() {
            this.set(read())
          },
        })
    }
    this.runs = new Counter({
      name: 'cis490_trainer_runs_total',
      help: 'Training runs this node finished, by model and outcome (completed, failed, stopped).',
      labelNames: ['model', 'outcome'],
      registers,
    })
    this.runSeconds = new Histogram({
      name: 'cis490_trainer_run_duration_seconds',
      help: 'Wall time of the training runs this node finished, from spawn to exit, by model and outcome.',
      labelNames: ['model', 'outcome'],
      buckets: [...opts.runBuckets],
      registers,
    })
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry })
  }

  /** Hooks for the peer core's observer (claims won and lost, lease lapses). */
  get peerObserver(): Required<Pick<PeerObserver, 'wrote' | 'derived'>> {
    return { wrote: (action) => this.claims.wrote(action), derived: (jobs) => this.claims.derived(jobs) }
  }

  /** What the observer events counted so far. */
  get claimCounts(): Readonly<ClaimCounts> {
    return this.claims.counts
  }

  /** A training run ended. */
  runEnded(run: TrainerRunReport): void {
    const labels = { model: run.model, outcome: run.outcome }
    this.runs.inc(labels)
    this.runSeconds.observe(labels, Math.max(0, run.seconds))
  }

  /** The content type of {@link NodeMetrics.text} (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType
  }

  /** Every metric in Prometheus text format, collected now. */
  text(): Promise<string> {
    return this.registry.metrics()
  }
}

/** Sets a counter's series to a total some part keeps (counters have no `set`). */
function mirror<L extends string>(counter: Counter<L>, labels: Partial<Record<L, string>>, total: number): void {
  counter.remove(labels)
  counter.inc(labels, total)
}
