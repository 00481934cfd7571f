import {
  claimRecord,
  completeRecord,
  type DerivedJob,
  failRecord,
  lapseRecord,
  releaseRecord,
  startRecord,
} from '../../crdt/index.ts'
import type { HostPolicy, JobId } from '../../manifests/index.ts'
import type { Decision, RoundRef, RunOutcome, SchedulerAction, StopReason } from './actions.ts'
import { STOP_REASONS } from './actions.ts'
import { capabilityScore, type HostCapability, mayRun } from './capability.ts'
import type { JobTableView } from './table-view.ts'

/** Timing of the scheduler; every value is in ms of the host's clock. */
export interface SchedulerInit {
  /**
   * How long a claim waits before starting, so that concurrent claims of the round reach it.
   * @default 3000
   */
  settleMs?: number
  /**
   * How often the owner renews its leases (ephemeral messages). Keep it well under the lease.
   * @default 10000 (a third of the default 30 s lease)
   */
  renewMs?: number
  /**
   * First back-off after losing a job (a tie, a failed run); doubles per loss, with jitter in [0.5, 1.5).
   * @default 2000
   */
  backoffBaseMs?: number
  /** @default 60000 */
  backoffMaxMs?: number
  /**
   * Observers of a lapsed final attempt wait a random share of this before recording the
   * lapse, so that usually one of them writes it.
   * @default 5000
   */
  lapseStaggerMs?: number
  /**
   * Runs at once when the host has no `[hosts.NAME]` policy (a policy's `max_concurrent` wins).
   * @default 1
   */
  maxConcurrent?: number
  /**
   * How often `decide` forgets what it kept about jobs, generations and rounds that are
   * gone, finished or superseded (back-offs, written records, rendezvous ranks).
   * @default 30000
   */
  pruneMs?: number
}

/** The sizes of the scheduler's maps (for leak checks after long runs). */
export interface SchedulerSizes {
  readonly claims: number
  readonly runs: number
  readonly backoffs: number
  readonly lapseDue: number
  readonly written: number
  readonly order: number
}

/** The scheduler's defaults, sized for the default 30 s lease. */
export const DEFAULT_SCHEDULER_INIT: Readonly<Required<SchedulerInit>> = {
  settleMs: 3000,
  renewMs: 10_000,
  backoffBaseMs: 2000,
  backoffMaxMs: 60_000,
  lapseStaggerMs: 5000,
  maxConcurrent: 1,
  pruneMs: 30_000,
}

/** What the scheduler needs of its host; no clock, no sockets: time comes with each call. */
export interface SchedulerComponents {
  /** This peer's id (the signer of its records). */
  readonly peerId: string
  readonly capability: HostCapability
  /** The fleet's host policies (`[hosts.*]`), as in the `TrustConfig`. */
  readonly hosts?: ReadonlyMap<string, HostPolicy>
  /** Uniform in [0, 1): seeded in the simulator, any good source on a real host. */
  readonly random: () => number
}

interface Claim extends RoundRef {
  readonly claimedAt: number
  readonly attempt: number
}

interface Run extends RoundRef {
  readonly startedAt: number
  readonly attempt: number
}

interface Backoff {
  until: number
  losses: number
}

/** FNV-1a over the peer and job ids: each peer walks equal-priority jobs in its own order. */
function rendezvous(peer: string, job: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < peer.length; i++) h = Math.imul(h ^ peer.charCodeAt(i), 0x01000193)
  for (let i = 0; i < job.length; i++) h = Math.imul(h ^ job.charCodeAt(i), 0x01000193)
  return h >>> 0
}

const isFinished = (j: DerivedJob) => j.status === 'completed' || j.status === 'failed' || j.status === 'cancelled'

const minWake = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b))

/**
 * The pure scheduling and worker logic of one peer: what to claim, when to start, renew,
 * stop, record a result, record a lapse and back off.
 *
 * @remarks Holds only this peer's own intentions (its claims, runs and back-offs); the
 * job table is read fresh on every call. The real node and the simulator drive the same
 * code: they call `decide` whenever the table changed or `wakeAt` came, `runExited` when
 * a trainer ends, and carry out the returned actions. A claim starts only after the
 * settle window and only if this peer still wins its round; equal-priority jobs are
 * taken in a per-peer rendezvous order so that peers spread over the queue instead of
 * all claiming its head; a peer that loses a job backs off from it with jitter.
 */
export class Scheduler {
  private readonly me: string
  private readonly cap: HostCapability
  private readonly hosts: ReadonlyMap<string, HostPolicy> | undefined
  private readonly random: () => number
  private readonly opts: Readonly<Required<SchedulerInit>>
  private readonly maxConcurrent: number
  private readonly claims = new Map<JobId, Claim>()
  private readonly runs = new Map<JobId, Run>()
  private readonly backoffs = new Map<JobId, Backoff>()
  private readonly lapseDue = new Map<string, number>()
  /** Releases, failures and lapses already asked for (job/generation/round/owner), so none is asked twice. */
  private readonly written = new Set<string>()
  private readonly order = new Map<string, number>()
  private readonly eligible = new WeakMap<DerivedJob, boolean>()
  private lastRenewAt: number | null = null
  private nextPruneAt: number | null = null

  constructor(components: SchedulerComponents, init: SchedulerInit = {}) {
    this.me = components.peerId
    this.cap = components.capability
    this.hosts = components.hosts
    this.random = components.random
    this.opts = { ...DEFAULT_SCHEDULER_INIT, ...init }
    this.maxConcurrent = this.hosts?.get(this.cap.hostname)?.max_concurrent ?? this.opts.maxConcurrent
  }

  /** The sizes of the scheduler's maps: each is bounded by live jobs, not by history. */
  sizes(): SchedulerSizes {
    return {
      claims: this.claims.size,
      runs: this.runs.size,
      backoffs: this.backoffs.size,
      lapseDue: this.lapseDue.size,
      written: this.written.size,
      order: this.order.size,
    }
  }

  /** Runs this peer believes it is training. */
  get running(): readonly RoundRef[] {
    return [...this.runs.values()]
  }

  /** Claims waiting for their settle window. */
  get claiming(): readonly RoundRef[] {
    return [...this.claims.values()]
  }

  /**
   * Decides what to do at `now` (this host's clock) given the current table.
   * @param opts.mayClaim - false while the host's table may be far behind the fleet's (it
   *   just started and has not synced yet): claiming then could take jobs others run.
   */
  decide(table: JobTableView, now: number, opts: { mayClaim?: boolean } = {}): Decision {
    const actions: SchedulerAction[] = []
    let wake: number | null = null
    if (this.nextPruneAt === null || now >= this.nextPruneAt) {
      this.prune(table, now)
      this.nextPruneAt = now + this.opts.pruneMs
    }
    wake = minWake(wake, this.settleClaims(table, now, actions))
    this.checkRuns(table, actions)
    this.releaseOrphans(table, now, actions)
    wake = minWake(wake, this.recordLapses(table, now, actions))
    const claimed = this.claims.size
    if (opts.mayClaim !== false) wake = minWake(wake, this.claimMore(table, now, actions))
    // A new claim is renewed at once: the renewal is a second chance for it to reach everyone.
    if (this.claims.size > claimed) this.lastRenewAt = null
    wake = minWake(wake, this.renew(now, actions))
    return { actions, wakeAt: wake }
  }

  /**
   * A trainer exited: record its result (or failure) if the table still wants it.
   * @remarks A result is recorded even if the round was superseded meanwhile (a result is
   * never thrown away); a failure only while this peer still owns the current round.
   */
  runExited(table: JobTableView, exited: RoundRef, outcome: RunOutcome, now: number): SchedulerAction[] {
    const ref: RoundRef = { job: exited.job, generation: exited.generation, round: exited.round }
    const run = this.runs.get(ref.job)
    if (run === undefined || run.generation !== ref.generation || run.round !== ref.round) return []
    this.runs.delete(ref.job)
    // Until the result lands in the table, the round still looks owned: it is no orphan.
    this.written.add(`${ref.job}/${ref.generation}/${ref.round}/${this.me}`)
    const job = table.get(ref.job)
    if (job === undefined || job.generation !== ref.generation) return []
    const round = { id: ref.job, generation: ref.generation, round: ref.round }
    if (outcome.ok) {
      if (job.status === 'completed' || job.status === 'cancelled') return []
      const result = { ...outcome, host: this.cap.hostname }
      return [{ type: 'complete', ...ref, record: completeRecord(round, result, now) }]
    }
    this.backOff(ref.job, now)
    if (job.round !== ref.round || job.owner !== this.me || (job.status !== 'running' && job.status !== 'claimed'))
      return []
    return [{ type: 'fail', ...ref, record: failRecord(round, outcome.error, now) }]
  }

  /** Gives back every claim and run (graceful shutdown): release records, no attempt used. */
  releaseAll(now: number): SchedulerAction[] {
    const out: SchedulerAction[] = []
    for (const c of [...this.claims.values(), ...this.runs.values()]) {
      const ref = { job: c.job, generation: c.generation, round: c.round }
      this.written.add(`${c.job}/${c.generation}/${c.round}/${this.me}`)
      if (this.runs.has(c.job)) out.push({ type: 'stop', ...ref, reason: STOP_REASONS.superseded })
      out.push({
        type: 'release',
        ...ref,
        record: releaseRecord({ id: c.job, generation: c.generation, round: c.round }, now),
      })
    }
    this.claims.clear()
    this.runs.clear()
    return out
  }

  /** Why a claim or run of `ref` no longer holds in `job`, or null when this peer still owns its round. */
  private lost(ref: RoundRef, job: DerivedJob | undefined): StopReason | null {
    if (job === undefined) return STOP_REASONS.unknownJob
    if (job.generation !== ref.generation) return STOP_REASONS.requeued
    if (job.status === 'cancelled') return STOP_REASONS.cancelled
    if (job.status === 'completed') return STOP_REASONS.completedElsewhere
    if (job.round !== ref.round) return STOP_REASONS.superseded
    if (job.status !== 'claimed' && job.status !== 'running') return STOP_REASONS.leaseLapsed
    if (job.owner !== this.me) return STOP_REASONS.lostTie
    return null
  }

  private settleClaims(table: JobTableView, now: number, actions: SchedulerAction[]): number | null {
    let wake: number | null = null
    for (const c of [...this.claims.values()]) {
      const job = table.get(c.job)
      const why = this.lost(c, job)
      if (why !== null) {
        this.claims.delete(c.job)
        if (why === STOP_REASONS.lostTie) this.backOff(c.job, now)
        continue
      }
      const startAt = c.claimedAt + this.opts.settleMs
      if (now < startAt) {
        wake = minWake(wake, startAt)
        continue
      }
      this.claims.delete(c.job)
      const ref = { job: c.job, generation: c.generation, round: c.round }
      this.runs.set(c.job, { ...ref, startedAt: now, attempt: c.attempt })
      actions.push({
        type: 'start',
        ...ref,
        attempt: c.attempt,
        record: startRecord({ id: c.job, generation: c.generation, round: c.round }, now),
      })
    }
    return wake
  }

  private checkRuns(table: JobTableView, actions: SchedulerAction[]): void {
    for (const run of [...this.runs.values()]) {
      const why = this.lost(run, table.get(run.job))
      if (why === null) continue
      this.runs.delete(run.job)
      actions.push({ type: 'stop', job: run.job, generation: run.generation, round: run.round, reason: why })
    }
  }

  /** Rounds the table says this peer owns but it is not working on (it restarted): give them back. */
  private releaseOrphans(table: JobTableView, now: number, actions: SchedulerAction[]): void {
    for (const job of table.owned(this.me)) {
      if (this.claims.has(job.id) || this.runs.has(job.id)) continue
      const key = `${job.id}/${job.generation}/${job.round}/${this.me}`
      if (this.written.has(key)) continue
      this.written.add(key)
      const ref = { job: job.id, generation: job.generation, round: job.round }
      if (job.status === 'running') {
        actions.push({ type: 'fail', ...ref, record: failRecord(job, 'interrupted: the host restarted', now) })
      } else {
        actions.push({ type: 'release', ...ref, record: releaseRecord(job, now) })
      }
    }
  }

  private renew(now: number, actions: SchedulerAction[]): number | null {
    if (this.claims.size === 0 && this.runs.size === 0) {
      this.lastRenewAt = null
      return null
    }
    if (this.lastRenewAt !== null && now < this.lastRenewAt + this.opts.renewMs)
      return this.lastRenewAt + this.opts.renewMs
    const leases: RoundRef[] = []
    for (const c of [...this.claims.values(), ...this.runs.values()])
      leases.push({ job: c.job, generation: c.generation, round: c.round })
    actions.push({ type: 'renew', leases })
    this.lastRenewAt = now
    return now + this.opts.renewMs
  }

  private recordLapses(table: JobTableView, now: number, actions: SchedulerAction[]): number | null {
    let wake: number | null = null
    const live = new Set<string>()
    for (const { job, recorded } of table.lapsed()) {
      // Only a final attempt needs a record: otherwise the next claim supersedes the round.
      if (job.status !== 'failed' || recorded.owner === null || recorded.owner === this.me) continue
      const key = `${job.id}/${recorded.generation}/${recorded.round}/${recorded.owner}`
      if (this.written.has(key)) continue
      live.add(key)
      let due = this.lapseDue.get(key)
      if (due === undefined) {
        due = now + Math.floor(this.random() * this.opts.lapseStaggerMs)
        this.lapseDue.set(key, due)
      }
      if (now < due) {
        wake = minWake(wake, due)
        continue
      }
      this.written.add(key)
      const record = lapseRecord(recorded, recorded.owner, now)
      actions.push({
        type: 'lapse',
        job: job.id,
        generation: recorded.generation,
        round: recorded.round,
        owner: recorded.owner,
        record,
      })
    }
    for (const key of [...this.lapseDue.keys()]) if (!live.has(key)) this.lapseDue.delete(key)
    return wake
  }

  private isEligible(job: DerivedJob): boolean {
    let ok = this.eligible.get(job)
    if (ok === undefined) {
      ok = mayRun(this.cap, job.spec, this.hosts)
      this.eligible.set(job, ok)
    }
    return ok
  }

  private rank(job: string): number {
    let r = this.order.get(job)
    if (r === undefined) {
      r = rendezvous(this.me, job)
      this.order.set(job, r)
    }
    return r
  }

  private claimMore(table: JobTableView, now: number, actions: SchedulerAction[]): number | null {
    const free = this.maxConcurrent - this.claims.size - this.runs.size
    if (free <= 0) return null
    let wake: number | null = null
    // Priority classes in order; inside a class, this peer's rendezvous order.
    const picks: DerivedJob[] = []
    let classPriority: number | null = null
    let best: DerivedJob[] = []
    const closeClass = () => {
      for (const j of best) picks.push(j)
      best = []
    }
    for (const job of table.pending()) {
      if (job.spec.priority !== classPriority) {
        closeClass()
        if (picks.length >= free) break
        classPriority = job.spec.priority
      }
      if (!this.isEligible(job) || this.claims.has(job.id) || this.runs.has(job.id)) continue
      const b = this.backoffs.get(job.id)
      if (b !== undefined && now < b.until) {
        wake = minWake(wake, b.until)
        continue
      }
      // Keep the lowest ranks, as many as there are free slots left (usually one).
      const room = free - picks.length
      const r = this.rank(job.id)
      let i = best.length
      while (i > 0 && this.rank(best[i - 1].id) > r) i--
      if (i < room) {
        best.splice(i, 0, job)
        if (best.length > room) best.pop()
      }
    }
    closeClass()
    for (const job of picks) {
      const score = capabilityScore(this.cap, job.spec)
      const ref = { job: job.id, generation: job.generation, round: job.nextRound }
      this.claims.set(job.id, { ...ref, claimedAt: now, attempt: job.attempt })
      actions.push({
        type: 'claim',
        ...ref,
        score,
        record: claimRecord(job, job.nextRound, { score, host: this.cap.hostname }, now),
      })
      wake = minWake(wake, now + this.opts.settleMs)
    }
    return wake
  }

  /**
   * Forgets what no longer matters: records asked for rounds that are no longer their
   * job's current, owned or lapsed round; back-offs of finished or unknown jobs and those
   * expired for longer than `backoffMaxMs` (the loss count starts again); ranks of jobs
   * that are not pending. `lapseDue` is kept to the live lapses by `recordLapses` itself.
   */
  private prune(table: JobTableView, now: number): void {
    const lapsed = new Set<string>()
    for (const { job, recorded } of table.lapsed())
      lapsed.add(`${job.id}/${recorded.generation}/${recorded.round}/${recorded.owner}`)
    for (const key of this.written) {
      const [id, g, r, owner] = key.split('/')
      const job = table.get(id)
      const current = job !== undefined && job.generation === Number(g) && job.round === Number(r)
      const owned = current && (job.status === 'claimed' || job.status === 'running') && job.owner === owner
      if (!owned && !lapsed.has(key) && !this.claims.has(id as JobId) && !this.runs.has(id as JobId))
        this.written.delete(key)
    }
    for (const [id, b] of this.backoffs) {
      const job = table.get(id)
      if (job === undefined || isFinished(job) || now > b.until + this.opts.backoffMaxMs) this.backoffs.delete(id)
    }
    for (const id of this.order.keys()) if (table.get(id)?.status !== 'pending') this.order.delete(id)
  }

  private backOff(job: JobId, now: number): void {
    const prev = this.backoffs.get(job)
    const losses = (prev?.losses ?? 0) + 1
    const span = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (losses - 1))
    this.backoffs.set(job, { until: now + Math.floor(span * (0.5 + this.random())), losses })
  }
}
