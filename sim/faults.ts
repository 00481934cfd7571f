import type { Fault, SimConfig } from './config.ts'
import type { Prng } from './prng.ts'

/** What the fault injector may do to the simulated world. */
export interface FaultTarget {
  readonly peers: number
  now(): number
  /** Whether faults are still being injected (false once the run heals and goes quiet). */
  injecting(): boolean
  at(time: number, run: () => void): void
  isUp(peer: number): boolean
  crash(peer: number): void
  restart(peer: number): void
  /** Blocks `from` → `to` for every pair across the two groups (both ways when symmetric). */
  partition(groupA: readonly number[], groupB: readonly number[], symmetric: boolean): void
  healPartition(): void
  /** Operator commands: legit ones with the `ops` fault, forged ones always. */
  operatorCancel(): void
  operatorRequeue(): void
  operatorReload(): void
  forge(): void
}

/** Counters of injected faults. */
export interface FaultStats {
  crashes: number
  restarts: number
  partitions: number
  asymmetricPartitions: number
}

/**
 * Schedules the faults of a run over its fault window: crashes with restarts, partitions
 * (symmetric or one-way) that heal later, and operator commands mid-run. Message faults,
 * clock skew and trainer faults are properties of the network, clocks and trainers.
 */
export class FaultInjector {
  readonly stats: FaultStats = { crashes: 0, restarts: 0, partitions: 0, asymmetricPartitions: 0 }
  private readonly target: FaultTarget
  private readonly rng: Prng
  private readonly cfg: SimConfig
  private readonly faults: ReadonlySet<Fault>
  private readonly windowMs: number
  private readonly jobs: number
  private partitioned = false

  constructor(
    target: FaultTarget,
    rng: Prng,
    cfg: SimConfig,
    faults: ReadonlySet<Fault>,
    window: { ms: number; jobs: number },
  ) {
    this.target = target
    this.rng = rng
    this.cfg = cfg
    this.faults = faults
    this.windowMs = window.ms
    this.jobs = window.jobs
  }

  private exp(mean: number): number {
    return -Math.log(1 - this.rng.next()) * mean
  }

  /** Schedules the first occurrence of every enabled fault. */
  start(): void {
    const t = this.target
    const n = t.peers
    if (this.faults.has('crash') && n > 1) t.at(this.exp(this.cfg.crashEveryMs), () => this.crash())
    if (this.faults.has('partition') && n > 1) t.at(this.rng.range(0.05, 0.3) * this.windowMs, () => this.partition())
    if (this.faults.has('ops')) {
      // Early enough to land while jobs still run (a run may finish well before its window).
      t.at(this.rng.range(0.1, 0.3) * this.windowMs, () => t.operatorReload())
      const k = Math.max(1, Math.round(this.cfg.opsShare * this.jobs))
      for (let i = 0; i < k; i++) {
        t.at(this.rng.range(0.05, 0.5) * this.windowMs, () => t.operatorCancel())
        t.at(this.rng.range(0.05, 0.5) * this.windowMs, () => t.operatorRequeue())
      }
    }
    for (let i = 0; i < this.cfg.forgeries; i++) t.at(this.rng.range(0.02, 0.6) * this.windowMs, () => t.forge())
  }

  private crash(): void {
    const t = this.target
    if (!t.injecting()) return
    const up: number[] = []
    for (let p = 0; p < t.peers; p++) if (t.isUp(p)) up.push(p)
    // Keep at least half the fleet up, so that crashes do not stop all progress.
    if (up.length > Math.ceil(t.peers / 2)) {
      const victim = this.rng.pick(up)
      t.crash(victim)
      this.stats.crashes++
      const down = this.rng.range(this.cfg.crashDownMinMs, this.cfg.crashDownMaxMs)
      t.at(t.now() + down, () => {
        if (!t.isUp(victim)) {
          t.restart(victim)
          this.stats.restarts++
        }
      })
    }
    t.at(t.now() + this.exp(this.cfg.crashEveryMs), () => this.crash())
  }

  private partition(): void {
    const t = this.target
    if (!t.injecting()) return
    if (!this.partitioned) {
      const order = this.rng.shuffled(Array.from({ length: t.peers }, (_, i) => i))
      const cut = 1 + this.rng.int(t.peers - 1)
      const symmetric = this.rng.chance(0.6)
      t.partition(order.slice(0, cut), order.slice(cut), symmetric)
      this.partitioned = true
      this.stats.partitions++
      if (!symmetric) this.stats.asymmetricPartitions++
      const span = this.rng.range(this.cfg.partitionMinMs, this.cfg.partitionMaxMs)
      t.at(t.now() + span, () => {
        if (this.partitioned) {
          t.healPartition()
          this.partitioned = false
        }
      })
    }
    t.at(t.now() + this.exp(this.cfg.partitionEveryMs), () => this.partition())
  }

  /** The run heals: no partition from now on (the runner heals links and restarts peers). */
  stop(): void {
    this.partitioned = false
  }
}
