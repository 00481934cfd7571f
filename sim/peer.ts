import type { DerivedTable, JobTable, Signer, TrustConfig } from '../crdt/index.ts'
import type { JobId } from '../manifests/index.ts'
import {
  decodeMessage,
  emptyReplicaStats,
  encodeMessage,
  type HostCapability,
  PeerCore,
  type PeerEffect,
  type PeerInit,
  type PeerMessage,
  type ReplicaStats,
  type RoundRef,
  type RunOutcome,
  type RunRequest,
  type SchedulerAction,
  type SubmitResult,
} from '../node/index.ts'
import { MemoryDocumentStore } from '../node/store/index.ts'
import type { Fault, SimConfig } from './config.ts'
import type { SimEvent } from './events.ts'
import type { CheckedPeer, InvariantChecker } from './invariants.ts'
import type { SimNetwork } from './network.ts'
import { mixSeed, Prng } from './prng.ts'
import type { Trace } from './trace.ts'
import { planRun } from './trainer.ts'
import type { SimHost, Workload } from './workload.ts'

/** What a simulated peer reaches of the world around it. */
export interface PeerEnv {
  readonly seed: number
  readonly cfg: SimConfig
  /** The protocol settings every simulated peer runs (the sim's scaled timings). */
  readonly peerInit: PeerInit
  readonly faults: ReadonlySet<Fault>
  readonly trust: TrustConfig
  readonly workload: Workload
  readonly network: SimNetwork<Uint8Array>
  readonly trace: Trace
  readonly checker: InvariantChecker
  /** Peer ids by index, and indices by peer id. */
  readonly peerIds: readonly string[]
  readonly indexOf: ReadonlyMap<string, number>
  now(): number
  schedule(at: number, event: SimEvent): void
}

/** A peer's clock: `local = offset + rate · virtual` (ms). */
export interface PeerClock {
  readonly offset: number
  readonly rate: number
}

interface LocalRun {
  readonly runId: number
  readonly ref: RoundRef
  readonly outcome: RunOutcome
}

/** Counters a peer keeps for the report. */
export interface PeerStats {
  restarts: number
  trainerFailures: number
  slowRuns: number
}

const decoded = new WeakMap<Uint8Array, PeerMessage | null>()

function actorFor(seed: number, peer: number, incarnation: number): string {
  let out = ''
  for (let k = 0; k < 4; k++) out += mixSeed(seed, `actor/${peer}/${incarnation}/${k}`).toString(16).padStart(8, '0')
  return out
}

/**
 * One simulated peer: the production `PeerCore` with simulated components around it: a
 * skewed, drifting clock over virtual time, the simulated network as its transport, a
 * memory document store that keeps only what was persisted, and a trainer built on run
 * plans. A crash throws the core away; a restart builds a new one from the store.
 */
export class SimPeer implements CheckedPeer {
  readonly index: number
  readonly signer: Signer
  readonly host: SimHost
  readonly clock: PeerClock
  readonly stats: PeerStats = { restarts: 0, trainerFailures: 0, slowRuns: 0 }
  up = true
  incarnation = 0
  core: PeerCore
  private store = new MemoryDocumentStore()
  private readonly env: PeerEnv
  private readonly rng: Prng
  private readonly trainerRng: Prng
  private nextTickAt = Number.POSITIVE_INFINITY
  private runs = new Map<JobId, LocalRun>()
  private runCounter = 0
  /** Replica counters of the incarnations before this one. */
  private readonly past: ReplicaStats = emptyReplicaStats()

  constructor(env: PeerEnv, index: number, signer: Signer, host: SimHost, clock: PeerClock) {
    this.env = env
    this.index = index
    this.signer = signer
    this.host = host
    this.clock = clock
    this.rng = Prng.stream(env.seed, `peer/${index}`)
    this.trainerRng = Prng.stream(env.seed, `trainer/${index}`)
    this.core = this.newCore([])
  }

  private newCore(stored: readonly Uint8Array[]): PeerCore {
    const now = () => this.localNow(this.env.now())
    return new PeerCore(
      {
        clock: { now },
        random: () => this.rng.next(),
        signer: this.signer,
        capability: this.host.capability,
        trust: this.env.trust,
        actor: actorFor(this.env.seed, this.index, this.incarnation),
        effects: (effects) => this.apply(effects),
        observer: {
          derived: (jobs) => this.env.checker.onDerived(this, jobs, this.env.now()),
          wrote: (a, bytes) => {
            const at = this.env.now()
            if (a.type === 'complete') this.env.checker.onCompleteWritten(this, a, bytes, at)
            if (a.type !== 'renew')
              this.env.trace.add({ at, peer: this.index, kind: a.type, job: a.job, detail: describe(a) })
          },
          stopped: (ref, reason) =>
            this.env.trace.add({
              at: this.env.now(),
              peer: this.index,
              kind: 'stop',
              job: ref.job,
              detail: `g${ref.generation} r${ref.round} ${reason}`,
            }),
        },
      },
      this.env.peerInit,
      stored,
    )
  }

  /** The peer's derived table (for the checker and the report). */
  get table(): DerivedTable {
    return this.core.table
  }

  /** The peer's document (a view built when asked: see `Replica.doc`). */
  get doc(): JobTable {
    return this.core.doc
  }

  /** The heads of the peer's document. */
  heads(): readonly string[] {
    return this.core.replica.heads()
  }

  get capability(): HostCapability {
    return this.host.capability
  }

  /** This peer's clock at virtual time `v`. */
  localNow(v: number): number {
    return this.clock.offset + this.clock.rate * v
  }

  private toVirtual(local: number): number {
    return (local - this.clock.offset) / this.clock.rate
  }

  /** Runs this peer is training now. */
  get activeRuns(): number {
    return this.runs.size
  }

  // ---- the components: effects of the core ------------------------------------------------

  private apply(effects: readonly PeerEffect[]): void {
    const net = this.env.network
    const now = this.env.now()
    for (const e of effects) {
      switch (e.type) {
        case 'persist':
          void this.store.append(e.chunk)
          break
        case 'compact':
          void this.store.compact(e.snapshot)
          break
        case 'send': {
          const to = this.env.indexOf.get(e.to)
          if (to !== undefined) net.send(this.index, to, encodeMessage(e.msg), now)
          break
        }
        case 'broadcast': {
          const bytes = encodeMessage(e.msg)
          for (let j = 0; j < this.env.peerIds.length; j++) if (j !== this.index) net.send(this.index, j, bytes, now)
          break
        }
        case 'start-run':
          this.launch(e.run, now)
          break
        case 'stop-run': {
          const run = this.runs.get(e.ref.job)
          if (run !== undefined && run.ref.round === e.ref.round && run.ref.generation === e.ref.generation) {
            this.runs.delete(e.ref.job)
            this.env.checker.onRunStop(this, run.ref, now)
          }
          break
        }
        case 'penalise':
          break
      }
    }
  }

  private schedule(): void {
    if (!this.up) return
    const wake = this.core.wakeAt
    if (wake === Number.POSITIVE_INFINITY) return
    const now = this.env.now()
    const at = Math.max(now + 1, this.toVirtual(wake))
    if (at >= this.nextTickAt) return
    this.nextTickAt = at
    this.env.schedule(at, { type: 'tick', peer: this.index, incarnation: this.incarnation, at })
  }

  // ---- inputs -----------------------------------------------------------------------------

  /** Asks for the first tick (the run starts). */
  start(): void {
    this.schedule()
  }

  /** Handles one delivered message. */
  receive(from: number, bytes: Uint8Array): void {
    if (!this.up) return
    // A broadcast delivers one bytes object to every peer: decode it once for all of them
    // (what a node's gossip layer decodes once per message). Garbage goes in as bytes.
    let msg = decoded.get(bytes)
    if (msg === undefined) {
      msg = decodeMessage(bytes)
      decoded.set(bytes, msg)
    }
    this.core.receive(this.env.peerIds[from], msg ?? bytes)
    this.schedule()
  }

  /** The network connected this peer to `others` (after a restart, a heal, or at the start). */
  connected(others: readonly number[]): void {
    if (!this.up) return
    for (const o of others) this.core.connected(this.env.peerIds[o])
    this.schedule()
  }

  /** The network lost the links to `others`. */
  disconnected(others: readonly number[]): void {
    if (!this.up) return
    for (const o of others) this.core.disconnected(this.env.peerIds[o])
  }

  /** A scheduled tick fired. */
  onTick(ev: { incarnation: number; at: number }): void {
    if (!this.up || ev.incarnation !== this.incarnation || ev.at !== this.nextTickAt) return
    this.nextTickAt = Number.POSITIVE_INFINITY
    this.core.tick()
    this.schedule()
  }

  /**
   * Appends what an operator (or a forger) submitted through this peer's API (`POST /v1/ops`).
   */
  submit(records: readonly Uint8Array[]): SubmitResult | null {
    if (!this.up) return null
    const result = this.core.submit(records)
    this.schedule()
    return result
  }

  // ---- the trainer --------------------------------------------------------------------------

  private launch(run: RunRequest, now: number): void {
    const ref = { job: run.job, generation: run.generation, round: run.round }
    const trainMs = this.env.workload.trainMs.get(run.job) ?? this.env.cfg.trainMinMs
    const plan = planRun(
      ref,
      { trainMs, speed: this.host.speed },
      this.env.cfg,
      this.env.faults.has('trainer'),
      this.trainerRng,
    )
    if (plan.slow) this.stats.slowRuns++
    if (!plan.outcome.ok) this.stats.trainerFailures++
    const runId = ++this.runCounter
    this.runs.set(run.job, { runId, ref, outcome: plan.outcome })
    this.env.checker.onRunStart(this, ref, run.attempt, now)
    this.env.schedule(now + plan.durationMs, { type: 'exit', peer: this.index, incarnation: this.incarnation, runId })
  }

  /** A trainer process exited. */
  onExit(ev: { incarnation: number; runId: number }): void {
    if (!this.up || ev.incarnation !== this.incarnation) return
    const now = this.env.now()
    for (const run of this.runs.values()) {
      if (run.runId !== ev.runId) continue
      this.runs.delete(run.ref.job)
      this.env.checker.onRunStop(this, run.ref, now)
      this.env.trace.add({
        at: now,
        peer: this.index,
        kind: 'exit',
        job: run.ref.job,
        detail: `g${run.ref.generation} r${run.ref.round} ${run.outcome.ok ? 'ok' : 'code 1'}`,
      })
      this.core.runExited(run.ref, run.outcome)
      this.schedule()
      return
    }
  }

  // ---- crash and restart --------------------------------------------------------------------

  /** Crash: everything not persisted is gone, and so are the runs. */
  crash(now: number): void {
    if (!this.up) return
    this.up = false
    for (const run of this.runs.values()) this.env.checker.onRunStop(this, run.ref, now)
    this.runs.clear()
    this.nextTickAt = Number.POSITIVE_INFINITY
    this.store = this.store.reopen()
    const now_ = this.core.stats.replica
    for (const k of Object.keys(this.past) as (keyof ReplicaStats)[]) this.past[k] += now_[k]
    this.env.trace.add({ at: now, peer: -1, kind: 'crash', detail: `p${this.index}` })
  }

  /** Restart from the persisted document under a fresh actor; the network then reports its connections. */
  restart(now: number, incarnation: number): void {
    if (this.up) return
    this.incarnation = incarnation
    const stored = this.store.loadNow()
    const bytes = stored.chunks.reduce((n, c) => n + c.length, 0)
    this.up = true
    this.core = this.newCore(stored.chunks)
    this.stats.restarts++
    this.env.trace.add({ at: now, peer: -1, kind: 'restart', detail: `p${this.index} (${bytes} B persisted)` })
    this.schedule()
  }

  /** Replica counters over every incarnation. */
  replicaStats(): ReplicaStats {
    const cur = this.core.stats.replica
    const out = { ...this.past }
    for (const k of Object.keys(out) as (keyof ReplicaStats)[]) out[k] += cur[k]
    return out
  }

  /** Sizes of every map the core keeps (to show they stay bounded). */
  sizes(): Record<string, number> {
    return this.core.sizes()
  }
}

function describe(a: SchedulerAction): string {
  switch (a.type) {
    case 'claim':
      return `g${a.generation} r${a.round} score=${a.score}`
    case 'lapse':
      return `g${a.generation} r${a.round} owner=${a.owner.slice(-6)}`
    case 'fail':
      return `g${a.generation} r${a.round} ${a.record.error}`
    case 'renew':
      return `${a.leases.length} leases`
    default:
      return `g${a.generation} r${a.round}`
  }
}
