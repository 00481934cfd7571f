import { DerivedTable, encodeRecord, type JobTable, LeaseTable, type Signer, type TrustConfig } from '../crdt/index.ts'
import type { JobId } from '../manifests/index.ts'
import { type RoundRef, type RunOutcome, Scheduler, type SchedulerAction } from '../node/index.ts'
import type { Fault, SimConfig } from './config.ts'
import type { SimEvent } from './events.ts'
import type { InvariantChecker } from './invariants.ts'
import type { RenewedLease, SimMessage } from './messages.ts'
import type { SimNetwork } from './network.ts'
import { mixSeed, Prng } from './prng.ts'
import { Replica } from './replica.ts'
import type { Trace } from './trace.ts'
import { planRun } from './trainer.ts'
import type { SimHost, Workload } from './workload.ts'

/** What a simulated peer reaches of the world around it. */
export interface PeerEnv {
  readonly seed: number
  readonly cfg: SimConfig
  readonly faults: ReadonlySet<Fault>
  readonly trust: TrustConfig
  readonly workload: Workload
  readonly network: SimNetwork<SimMessage>
  readonly trace: Trace
  readonly checker: InvariantChecker
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

function actorFor(seed: number, peer: number, incarnation: number): string {
  let out = ''
  for (let k = 0; k < 4; k++) out += mixSeed(seed, `actor/${peer}/${incarnation}/${k}`).toString(16).padStart(8, '0')
  return out
}

const leaseKey = (l: RoundRef) => `${l.job}/${l.generation}/${l.round}`

/** How often a peer forgets the lease observations of rounds that are no longer current. */
const FORGET_LEASES_MS = 20_000

/**
 * One simulated peer: its own Automerge job table (a `Replica`), signer and lease
 * observations, the very scheduler a real node runs, and simulated trainers.
 *
 * @remarks The peer re-derives its table incrementally and asks the scheduler whenever
 * news arrives (records, renewals, a trainer exit) or a deadline comes, at most once per
 * `decideMs`. Its own writes are persisted before they are sent or acted on; merged remote
 * changes every `persistMs`. A crash loses the runs, what was not persisted, lease
 * observations, scheduler state and sync sessions. After a restart the peer claims
 * nothing until a sync session has brought it up to date (or `catchUpMs` passed).
 */
export class SimPeer {
  readonly index: number
  readonly signer: Signer
  readonly host: SimHost
  readonly clock: PeerClock
  readonly stats: PeerStats = { restarts: 0, trainerFailures: 0, slowRuns: 0 }
  readonly replica: Replica
  up = true
  incarnation = 0
  table: DerivedTable
  private leases: LeaseTable
  private scheduler: Scheduler
  private readonly env: PeerEnv
  private readonly peerIds: readonly string[]
  private readonly rng: Prng
  private readonly trainerRng: Prng
  private nextTickAt = Number.POSITIVE_INFINITY
  private runs = new Map<JobId, LocalRun>()
  private exits: { ref: RoundRef; outcome: RunOutcome }[] = []
  private ownClaims = new Map<string, Uint8Array>()
  private lastPersistAt = 0
  private lastForgetAt = 0
  private runCounter = 0
  private catchUpUntil = 0

  constructor(
    env: PeerEnv,
    index: number,
    signer: Signer,
    host: SimHost,
    clock: PeerClock,
    peerIds: readonly string[],
  ) {
    this.env = env
    this.index = index
    this.signer = signer
    this.host = host
    this.clock = clock
    this.peerIds = peerIds
    this.rng = Prng.stream(env.seed, `peer/${index}`)
    this.trainerRng = Prng.stream(env.seed, `trainer/${index}`)
    this.table = new DerivedTable({ trust: env.trust })
    this.replica = new Replica(
      {
        index,
        peers: peerIds.length,
        cfg: env.cfg,
        send: (to, msg) => env.network.send(index, to, msg, env.now()),
        learn: (records) => this.learn(records),
      },
      actorFor(env.seed, index, 0),
    )
    this.leases = new LeaseTable({ leaseMs: env.cfg.leaseMs })
    this.scheduler = this.newScheduler()
  }

  private newScheduler(): Scheduler {
    const cfg = this.env.cfg
    return new Scheduler(
      {
        peerId: this.signer.id,
        capability: this.host.capability,
        hosts: this.env.trust.hosts,
        random: () => this.rng.next(),
      },
      {
        settleMs: cfg.settleMs,
        renewMs: cfg.renewMs,
        backoffBaseMs: cfg.backoffBaseMs,
        backoffMaxMs: cfg.backoffMaxMs,
        lapseStaggerMs: cfg.lapseStaggerMs,
      },
    )
  }

  /** The peer's document. */
  get doc(): JobTable {
    return this.replica.doc
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

  private learn(records: readonly unknown[]): void {
    if (this.table.add(records) > 0) this.requestTick(this.env.now() + this.env.cfg.decideMs)
  }

  // ---- messages -------------------------------------------------------------------------

  /** Handles one delivered message. */
  receive(from: number, msg: SimMessage, now: number): void {
    if (msg.type === 'renew') {
      const local = this.localNow(now)
      const owner = this.peerIds[from]
      const claims: Uint8Array[] = []
      for (const l of msg.leases) {
        if (l.claim !== undefined) claims.push(l.claim)
        this.leases.renew(l.job, l.generation, l.round, owner, local)
        const j = this.table.get(l.job)
        // A renewal of a round this peer already saw lapse revives it: derive it again.
        if (j !== undefined && j.generation === l.generation && j.round === l.round && j.owner === null) {
          this.table.touch(l.job)
          this.requestTick(now + this.env.cfg.decideMs)
        }
      }
      if (claims.length > 0) this.learn(claims)
    }
    this.replica.receive(from, msg, now)
    this.requestTick(this.replica.mergeAt)
  }

  /** Opens an Automerge sync session with `other`. */
  startSync(other: number): void {
    this.replica.startSync(other)
  }

  /** Forgets the in-flight part of the sync session with `other`. */
  resetSync(other: number): void {
    this.replica.resetSync(other)
  }

  // ---- ticks ----------------------------------------------------------------------------

  private requestTick(at: number): void {
    if (!this.up || at >= this.nextTickAt || at === Number.POSITIVE_INFINITY) return
    this.nextTickAt = at
    this.env.schedule(at, { type: 'tick', peer: this.index, incarnation: this.incarnation, at })
  }

  /** A scheduled tick fired. */
  onTick(ev: { incarnation: number; at: number }, now: number): void {
    if (!this.up || ev.incarnation !== this.incarnation || ev.at !== this.nextTickAt) return
    this.nextTickAt = Number.POSITIVE_INFINITY
    this.tick(now)
  }

  /** Merges what is due, re-derives, lets the scheduler decide and carries out its actions. */
  tick(now: number): void {
    const local = this.localNow(now)
    if (now >= this.replica.mergeAt) this.replica.merge(now)
    this.refresh(now, local)
    const actions: SchedulerAction[] = []
    for (const e of this.exits)
      for (const a of this.scheduler.runExited(this.table, e.ref, e.outcome, local)) actions.push(a)
    this.exits = []
    const mayClaim = now >= this.catchUpUntil || this.replica.synced
    const decision = this.scheduler.decide(this.table, local, { mayClaim })
    for (const a of decision.actions) actions.push(a)
    this.execute(actions, now, local)
    let wake = decision.wakeAt === null ? Number.POSITIVE_INFINITY : this.toVirtual(decision.wakeAt)
    const deadline = this.table.nextDeadline()
    if (deadline !== undefined) wake = Math.min(wake, this.toVirtual(deadline + 1))
    if (!mayClaim) wake = Math.min(wake, this.catchUpUntil)
    wake = Math.min(wake, this.replica.mergeAt)
    if (wake !== Number.POSITIVE_INFINITY) this.requestTick(Math.max(now + 1, wake))
  }

  private refresh(now: number, local: number): void {
    const view = this.leases.view(local)
    const changed = this.table.refresh(view)
    // Start the lease clock of rounds seen for the first time (what LeaseTable.observe does,
    // one round at a time: observing the whole table on every tick is what costs).
    for (const j of changed) {
      if ((j.status !== 'claimed' && j.status !== 'running') || j.owner === null) continue
      if (view.lastSeen(j.id, j.generation, j.round, j.owner) === undefined)
        this.leases.renew(j.id, j.generation, j.round, j.owner, local)
    }
    if (changed.length > 0) this.env.checker.onDerived(this, changed, now)
  }

  private execute(actions: readonly SchedulerAction[], now: number, local: number): void {
    if (actions.length === 0) return
    const records: Uint8Array[] = []
    const starts: (SchedulerAction & { type: 'start' })[] = []
    let renewals: readonly RoundRef[] = []
    for (const a of actions) {
      switch (a.type) {
        case 'renew':
          for (const l of a.leases) this.leases.renew(l.job, l.generation, l.round, this.signer.id, local)
          renewals = a.leases
          break
        case 'stop': {
          const run = this.runs.get(a.job)
          if (run !== undefined) {
            this.runs.delete(a.job)
            this.env.checker.onRunStop(this, run.ref, now)
          }
          this.env.trace.add({
            at: now,
            peer: this.index,
            kind: 'stop',
            job: a.job,
            detail: `g${a.generation} r${a.round} ${a.reason}`,
          })
          break
        }
        default: {
          const bytes = encodeRecord(a.record, this.signer)
          records.push(bytes)
          if (a.type === 'claim') this.ownClaims.set(leaseKey(a), bytes)
          if (a.type === 'start') starts.push(a)
          if (a.type === 'complete') this.env.checker.onCompleteWritten(this, a, bytes, now)
          this.env.trace.add({ at: now, peer: this.index, kind: a.type, job: a.job, detail: describe(a) })
        }
      }
    }
    if (records.length > 0) {
      this.table.add(records)
      this.replica.write(records, local)
      this.requestTick(now + 1)
    }
    // After the write, so that the heads they carry name this decision's records too.
    if (renewals.length > 0) this.renew(renewals)
    for (const s of starts) this.launch(s, now)
  }

  /** Sends renewals with the claim of each round, so a peer that missed the claim learns it. */
  private renew(leases: readonly RoundRef[], to?: readonly number[]): void {
    const out: RenewedLease[] = leases.map((l) => {
      const claim = this.ownClaims.get(leaseKey(l))
      return claim === undefined ? l : { ...l, claim }
    })
    const live = new Set([...this.scheduler.claiming, ...this.scheduler.running].map(leaseKey))
    for (const k of this.ownClaims.keys()) if (!live.has(k)) this.ownClaims.delete(k)
    const msg: SimMessage = { type: 'renew', leases: out, heads: this.replica.heads() }
    if (to !== undefined) for (const j of to) this.env.network.send(this.index, j, msg, this.env.now())
    else
      for (let j = 0; j < this.peerIds.length; j++)
        if (j !== this.index) this.env.network.send(this.index, j, msg, this.env.now())
  }

  /**
   * On (re)connection: tells the newly reachable peers at once which rounds this peer holds
   * (with their claims), rather than at the next renewal: across a healed partition two
   * peers may be training the same job.
   */
  announce(to: readonly number[]): void {
    if (!this.up || to.length === 0) return
    const leases = [...this.scheduler.claiming, ...this.scheduler.running]
    if (leases.length > 0) this.renew(leases, to)
  }

  /**
   * Appends what an operator (or a forger) wrote through this peer's API (`POST /v1/ops`):
   * `edit` makes the change with the writer's own clock. Returns the appended record bytes.
   */
  applyExternal(edit: (doc: JobTable) => JobTable, now: number): Uint8Array[] {
    if (!this.up) return []
    const added = this.replica.writeWith(edit)
    this.table.add(added)
    this.requestTick(now + 1)
    return added
  }

  // ---- runs -----------------------------------------------------------------------------

  private launch(a: SchedulerAction & { type: 'start' }, now: number): void {
    const ref = { job: a.job, generation: a.generation, round: a.round }
    const trainMs = this.env.workload.trainMs.get(a.job) ?? this.env.cfg.trainMinMs
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
    this.runs.set(a.job, { runId, ref, outcome: plan.outcome })
    this.env.checker.onRunStart(this, ref, a.attempt, now)
    this.env.schedule(now + plan.durationMs, { type: 'exit', peer: this.index, incarnation: this.incarnation, runId })
  }

  /** A trainer process exited. */
  onExit(ev: { incarnation: number; runId: number }, now: number): void {
    if (!this.up || ev.incarnation !== this.incarnation) return
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
      this.exits.push({ ref: run.ref, outcome: run.outcome })
      this.tick(now)
      return
    }
  }

  // ---- anti-entropy, persistence, crash and restart -------------------------------------

  /** Periodic: persists merged changes, and sends this peer's heads to random peers. */
  onAntiEntropy(ev: { incarnation: number }, now: number): void {
    if (!this.up || ev.incarnation !== this.incarnation) return
    const cfg = this.env.cfg
    if (now - this.lastPersistAt >= cfg.persistMs) {
      this.replica.persist()
      this.lastPersistAt = now
    }
    if (now - this.lastForgetAt >= FORGET_LEASES_MS) {
      // Forget the leases of rounds that are no longer current (memory only).
      this.leases.observe(this.table.all(), this.localNow(now))
      this.lastForgetAt = now
    }
    const n = this.peerIds.length
    for (let k = 0; k < cfg.aeFanout && n > 1; k++) {
      let to = this.rng.int(n - 1)
      if (to >= this.index) to++
      this.replica.beacon(to)
    }
    this.env.schedule(now + cfg.aeMs, { type: 'anti-entropy', peer: this.index, incarnation: this.incarnation })
  }

  /** Crash: everything not persisted is gone, and so are the runs. */
  crash(now: number): void {
    if (!this.up) return
    this.up = false
    for (const run of this.runs.values()) this.env.checker.onRunStop(this, run.ref, now)
    this.runs.clear()
    this.exits = []
    this.ownClaims.clear()
    this.replica.crash()
    this.nextTickAt = Number.POSITIVE_INFINITY
    this.env.trace.add({ at: now, peer: -1, kind: 'crash', detail: `p${this.index}` })
  }

  /** Restart from the persisted document under a fresh actor; the caller opens sync sessions. */
  restart(now: number, incarnation: number): void {
    if (this.up) return
    this.incarnation = incarnation
    const bytes = this.replica.restore(actorFor(this.env.seed, this.index, incarnation))
    this.table = new DerivedTable({ trust: this.env.trust })
    this.table.add(this.replica.doc.log)
    this.leases = new LeaseTable({ leaseMs: this.env.cfg.leaseMs })
    this.scheduler = this.newScheduler()
    this.catchUpUntil = now + this.env.cfg.catchUpMs
    this.up = true
    this.stats.restarts++
    this.env.trace.add({ at: now, peer: -1, kind: 'restart', detail: `p${this.index} (${bytes} B persisted)` })
    this.requestTick(now + 1)
    this.env.schedule(now + this.rng.range(0, this.env.cfg.aeMs), {
      type: 'anti-entropy',
      peer: this.index,
      incarnation,
    })
  }

  /** Queues an immediate tick (after an external change). */
  poke(now: number): void {
    this.requestTick(now + 1)
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
