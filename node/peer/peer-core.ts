import canonicalize from 'canonicalize'
import {
  type DerivedJob,
  DerivedTable,
  decodeRecord,
  encodeRecord,
  type JobTable,
  LeaseTable,
  OPERATOR_RECORD_TYPES,
  recordsOf,
  type Signer,
  type TrustConfig,
} from '../../crdt/index.ts'
import type { JobId } from '../../manifests/index.ts'
import {
  type HostCapability,
  type RoundRef,
  type RunOutcome,
  Scheduler,
  type SchedulerAction,
  type StopReason,
} from '../scheduler/index.ts'
import {
  decodeMessage,
  type PeerMessage,
  type PeerStatus,
  type RenewedLease,
  Replica,
  type ReplicaStats,
} from '../sync/index.ts'
import type { PeerInit } from './peer-init.ts'

/** A run the core asks its trainer to start. */
export interface RunRequest extends RoundRef {
  readonly attempt: number
  /** The job as this peer derived it when the run starts (its spec says what to train). */
  readonly spec: DerivedJob['spec']
}

/**
 * What the core asks of the world, in the order it must happen: a `persist` is durable
 * before any later effect of the same batch (a claim is on disk before it is sent, a start
 * before the trainer runs).
 */
export type PeerEffect =
  | { readonly type: 'persist'; readonly chunk: Uint8Array }
  | { readonly type: 'compact'; readonly snapshot: Uint8Array }
  | { readonly type: 'send'; readonly to: string; readonly msg: PeerMessage }
  | { readonly type: 'broadcast'; readonly msg: PeerMessage }
  | { readonly type: 'start-run'; readonly run: RunRequest }
  | { readonly type: 'stop-run'; readonly ref: RoundRef; readonly reason: StopReason }
  | { readonly type: 'penalise'; readonly peer: string; readonly reason: string }

/** Hooks for traces and metrics; called synchronously, must not throw. */
export interface PeerObserver {
  /** Jobs whose derived state changed at a refresh. */
  derived?(jobs: readonly DerivedJob[]): void
  /** A record this peer signed and appended (claim, start, complete, fail, release, lapse). */
  wrote?(action: SchedulerAction, bytes: Uint8Array): void
  /** The scheduler stopped a run or gave up a claim. */
  stopped?(ref: RoundRef, reason: StopReason): void
  /** A message from `from` was dropped (did not decode, or carried something hostile). */
  dropped?(from: string, reason: string): void
}

/** What the core is given; everything it touches of the world goes through these. */
export interface PeerComponents {
  /** This peer's clock, ms (any epoch; the simulator skews it). */
  readonly clock: { now(): number }
  /** Uniform in [0, 1). */
  readonly random: () => number
  readonly signer: Signer
  readonly capability: HostCapability
  /** Operator keys and host policies: from the local fleet config, never from the document. */
  readonly trust: TrustConfig
  /** This incarnation's Automerge actor (hex); fresh for every process start. */
  readonly actor: string
  /** Applies effects in order (synchronously in the simulator, through a serial queue in the node). */
  readonly effects: (effects: readonly PeerEffect[]) => void
  readonly observer?: PeerObserver
  /**
   * Whether this peer may claim jobs at all (false: it has no way to train, e.g. no dataset
   * here; it still holds, serves and spreads the table).
   * @default true
   */
  readonly canTrain?: boolean
  /** What heartbeats say besides the capability. */
  readonly status?: { readonly store: boolean; readonly version: string }
}

/** A peer as this peer last heard of it (by heartbeat). */
export interface KnownPeer {
  readonly peerId: string
  readonly status: PeerStatus
  /** This peer's clock when the heartbeat arrived. */
  readonly lastSeen: number
}

/** Why an operator record was not appended. */
export interface SubmitRejection {
  readonly index: number
  readonly reason: string
}

/** The outcome of `submit`. */
export interface SubmitResult {
  /** Records appended (and spread). */
  readonly accepted: number
  /** Records already in the table, or specs equal to the job's current spec. */
  readonly unchanged: number
  readonly rejected: readonly SubmitRejection[]
}

/** Counters of one core (the replica's are in `replica`). */
export interface PeerCoreStats {
  messagesIn: number
  /** Messages that did not decode, or whose content was refused. */
  dropped: number
  recordsWritten: number
  replica: ReplicaStats
}

const leaseKey = (l: RoundRef) => `${l.job}/${l.generation}/${l.round}`

/** Bound of the worker list, whatever the heartbeats say. */
const MAX_KNOWN_PEERS = 4096

/**
 * The production peer: the replica of the job table, lease observations, the scheduler
 * and the operator write path, sans-IO.
 *
 * @remarks The simulator and the libp2p node run this same class; they differ only in
 * their components (a skewed virtual clock and a simulated network, or the real clock,
 * gossipsub and a file store). Inputs are method calls (a message arrived, a peer
 * connected or went away, a run exited, the wake-up time came, an operator submitted
 * records); outputs are effects handed to `components.effects` in the order they must
 * happen. The core re-derives its table incrementally and asks the scheduler whenever
 * news arrives or a deadline comes, at most once per `decideMs`. Its own writes are
 * persisted before they are sent or acted on; merged remote changes every `persistMs`.
 * After a restart (the store had a document) it claims nothing until a sync session has
 * brought it up to date, or `catchUpMs` passed. A crash is the end of this object: the
 * host builds a new one from what the store kept.
 */
export class PeerCore {
  readonly replica: Replica
  readonly table: DerivedTable
  readonly stats: PeerCoreStats
  private readonly c: PeerComponents
  private readonly init: PeerInit
  private readonly leases: LeaseTable
  private readonly scheduler: Scheduler
  private readonly peers: string[] = []
  private readonly known = new Map<string, KnownPeer>()
  private readonly runs = new Map<JobId, RoundRef>()
  private readonly ownClaims = new Map<string, Uint8Array>()
  private exits: { ref: RoundRef; outcome: RunOutcome }[] = []
  private out: PeerEffect[] = []
  private decideAt: number
  private readonly catchUpUntil: number
  private persistAt: number
  private forgetAt: number
  private beaconAt: number
  private heartbeatAt: number
  private chunksSinceCompact = 0
  private stopped = false

  /**
   * @param stored - the chunks the document store loaded (empty for a new peer)
   */
  constructor(components: PeerComponents, init: PeerInit, stored: readonly Uint8Array[] = []) {
    this.c = components
    this.init = init
    const now = components.clock.now()
    this.replica = new Replica(
      {
        send: (to, msg) => this.out.push({ type: 'send', to, msg }),
        broadcast: (msg) => this.out.push({ type: 'broadcast', msg }),
        persist: (chunk) => this.persisted(chunk),
        learn: (records) => this.learn(records),
        misbehaved: (from, reason) => this.misbehaved(from, reason),
      },
      init,
      components.actor,
      stored,
    )
    this.stats = { messagesIn: 0, dropped: 0, recordsWritten: 0, replica: this.replica.stats }
    this.chunksSinceCompact = stored.length
    this.table = new DerivedTable({ trust: components.trust })
    this.table.add(recordsOf(this.replica.doc))
    this.leases = new LeaseTable({ leaseMs: init.leaseMs })
    this.scheduler = new Scheduler(
      {
        peerId: components.signer.id,
        capability: components.capability,
        hosts: components.trust.hosts,
        random: components.random,
      },
      init,
    )
    this.catchUpUntil = stored.length > 0 ? now + init.catchUpMs : now
    this.decideAt = now
    this.persistAt = now + init.persistMs
    this.forgetAt = now + init.forgetLeasesMs
    this.beaconAt = now + components.random() * init.aeMs
    this.heartbeatAt = now
  }

  /** This peer's id. */
  get id(): string {
    return this.c.signer.id
  }

  /** The document as this peer holds it. */
  get doc(): JobTable {
    return this.replica.doc
  }

  /** Runs this peer's trainer is doing now. */
  get activeRuns(): number {
    return this.runs.size
  }

  /** Peers this peer is connected to, in the order they connected. */
  get connectedPeers(): readonly string[] {
    return this.peers
  }

  /**
   * When the core wants `tick` to be called next (its clock, ms; Infinity when only news
   * can wake it). Read it after every call.
   */
  get wakeAt(): number {
    if (this.stopped) return Number.POSITIVE_INFINITY
    let at = Math.min(this.decideAt, this.replica.mergeAt, this.beaconAt, this.heartbeatAt, this.forgetAt)
    if (this.replica.dirty) at = Math.min(at, this.persistAt)
    return at
  }

  /** Every job as of now (refreshed if records arrived since the last decision), by priority then id. */
  jobs(): DerivedJob[] {
    if (this.table.stale) this.refresh(this.c.clock.now())
    return this.table.jobs()
  }

  /** One job as of now, or undefined. */
  job(id: string): DerivedJob | undefined {
    if (this.table.stale) this.refresh(this.c.clock.now())
    return this.table.get(id)
  }

  /** Peers heard of by heartbeat within `workerTtlMs` (this one included). */
  knownPeers(): KnownPeer[] {
    const now = this.c.clock.now()
    const self: KnownPeer = { peerId: this.id, status: this.status(), lastSeen: now }
    return [self, ...[...this.known.values()].filter((p) => now - p.lastSeen <= this.init.workerTtlMs)]
  }

  /** Sizes of every map that grows with jobs, rounds or peers (for reports and the boundedness tests). */
  sizes(): Record<string, number> {
    return {
      ...this.replica.sizes(),
      ...Object.fromEntries(Object.entries(this.scheduler.sizes()).map(([k, v]) => [`scheduler.${k}`, v])),
      leases: this.leases.size,
      known: this.known.size,
      ownClaims: this.ownClaims.size,
      runs: this.runs.size,
    }
  }

  // ---- inputs -------------------------------------------------------------------------------

  /** A message from `from` arrived (bytes off the wire, or already decoded by a trusted layer). */
  receive(from: string, message: Uint8Array | PeerMessage): void {
    if (this.stopped || from === this.id) return
    this.stats.messagesIn++
    const msg = message instanceof Uint8Array ? decodeMessage(message) : message
    if (msg === null) {
      this.misbehaved(from, 'message does not decode')
      this.flush()
      return
    }
    const now = this.c.clock.now()
    if (msg.type === 'renew') this.onRenew(from, msg.leases, now)
    else if (msg.type === 'heartbeat') this.onHeartbeat(from, msg.status, now)
    this.replica.receive(from, msg, now)
    this.flush()
  }

  /** A connection to `peer` opened (its first one). */
  connected(peer: string): void {
    if (this.stopped || peer === this.id) return
    if (!this.peers.includes(peer)) this.peers.push(peer)
    this.replica.connected([peer], this.c.clock.now())
    // Tell it who we are and our heads at once (its replica decides from them whether it
    // is behind), and which rounds we hold: across a healed partition two peers may be
    // training the same job, and the next renewal may be seconds away.
    this.out.push({
      type: 'send',
      to: peer,
      msg: { type: 'heartbeat', status: this.status(), heads: this.replica.heads() },
    })
    const leases = [...this.scheduler.claiming, ...this.scheduler.running]
    if (leases.length > 0) this.renew(leases, peer)
    this.flush()
  }

  /** The last connection to `peer` closed. */
  disconnected(peer: string): void {
    const i = this.peers.indexOf(peer)
    if (i >= 0) this.peers.splice(i, 1)
    this.replica.disconnected(peer)
  }

  /** A run the core started exited. */
  runExited(ref: RoundRef, outcome: RunOutcome): void {
    if (this.stopped) return
    const run = this.runs.get(ref.job)
    if (run === undefined || run.generation !== ref.generation || run.round !== ref.round) return
    this.runs.delete(ref.job)
    this.exits.push({ ref: run, outcome })
    this.decide(this.c.clock.now())
    this.flush()
  }

  /** The wake-up time came (or any time: work not due is not done). */
  tick(): void {
    if (this.stopped) return
    const now = this.c.clock.now()
    if (now >= this.replica.mergeAt) this.replica.merge(now)
    if (now >= this.beaconAt) {
      this.beaconAt = now + this.init.aeMs
      const n = this.peers.length
      for (let k = 0; k < Math.min(this.init.aeFanout, n); k++)
        this.replica.beacon(this.peers[Math.floor(this.c.random() * n)])
    }
    if (now >= this.heartbeatAt) {
      this.heartbeatAt = now + this.init.heartbeatMs
      this.out.push({
        type: 'broadcast',
        msg: { type: 'heartbeat', status: this.status(), heads: this.replica.heads() },
      })
      this.pruneKnown(now)
    }
    if (now >= this.persistAt) {
      this.persistAt = now + this.init.persistMs
      if (this.replica.dirty) this.replica.persist()
    }
    if (now >= this.forgetAt) {
      this.forgetAt = now + this.init.forgetLeasesMs
      // Forget the leases of rounds that are no longer current (memory only).
      this.leases.observe(this.table.all(), now)
    }
    if (now >= this.decideAt) this.decide(now)
    this.flush()
  }

  /**
   * Appends operator records (spec, cancel, requeue) that someone submitted through this
   * peer (`POST /v1/ops`), after checking each: it must verify, be an operator command
   * signed by one of the fleet's operator keys, and make sense for the table as this peer
   * sees it. Specs equal to a job's current spec, and records already held, are unchanged.
   */
  submit(records: readonly Uint8Array[]): SubmitResult {
    const rejected: SubmitRejection[] = []
    const accepted: Uint8Array[] = []
    let unchanged = 0
    if (this.stopped) return { accepted: 0, unchanged: 0, rejected: [{ index: 0, reason: 'the node is stopping' }] }
    const now = this.c.clock.now()
    // Judge against the table as of now (records may have arrived since the last decision).
    if (this.table.stale) this.refresh(now)
    records.forEach((bytes, index) => {
      const verdict = this.judge(bytes)
      if (verdict === 'accept') accepted.push(bytes)
      else if (verdict === 'unchanged') unchanged++
      else rejected.push({ index, reason: verdict })
    })
    if (accepted.length > 0) {
      this.table.add(accepted)
      this.replica.write(accepted, now)
      this.stats.recordsWritten += accepted.length
      this.decideAt = Math.min(this.decideAt, now + 1)
      this.flush()
    }
    return { accepted: accepted.length, unchanged, rejected }
  }

  /** Whether a submitted operator record is appended, changes nothing, or is refused (the reason). */
  private judge(bytes: Uint8Array): 'accept' | 'unchanged' | string {
    const v = decodeRecord(bytes)
    if (v === null) return 'not a well-formed record with a valid signature'
    const r = v.record
    if (!OPERATOR_RECORD_TYPES.has(r.t)) return `a ${r.t} record is not an operator command`
    if (!this.c.trust.operatorKeys.has(r.by)) return `signed by ${r.by}, which is not an operator key of this fleet`
    if (this.table.hasRecord(r.j, v.key)) return 'unchanged'
    const job = this.table.get(r.j)
    const name = r.j.slice(0, 12)
    if (r.t === 'spec') return job !== undefined && sameSpec(job.spec, r.spec) ? 'unchanged' : 'accept'
    if (job === undefined) return `unknown job ${name}`
    if (r.t === 'cancel') {
      if (r.g !== job.generation) return `job ${name} is in generation ${job.generation}, not ${r.g}`
      return job.status === 'cancelled' ? 'unchanged' : 'accept'
    }
    if (r.t === 'requeue') {
      if (r.g !== job.generation + 1)
        return `job ${name} is in generation ${job.generation}: a requeue names ${job.generation + 1}`
      if ((job.status === 'running' || job.status === 'claimed') && !r.force)
        return `job ${name} is ${job.status}: requeue it with --force to abandon the current run`
    }
    return 'accept'
  }

  /**
   * Graceful shutdown: gives back every claim and run (release records, no attempt used),
   * stops the runs, persists. The core does nothing after it.
   */
  shutdown(): void {
    if (this.stopped) return
    const now = this.c.clock.now()
    this.execute(this.scheduler.releaseAll(now), now)
    if (this.replica.dirty) this.replica.persist()
    this.refresh(now)
    this.stopped = true
    this.flush()
  }

  // ---- internals ----------------------------------------------------------------------------

  private status(): PeerStatus {
    return {
      capability: this.c.capability,
      running: [...this.runs.keys()],
      store: this.c.status?.store ?? false,
      version: this.c.status?.version ?? '0',
      trains: this.c.canTrain !== false,
    }
  }

  private flush(): void {
    if (this.out.length === 0) return
    const out = this.out
    this.out = []
    this.c.effects(out)
  }

  private persisted(chunk: Uint8Array): void {
    this.out.push({ type: 'persist', chunk })
    if (++this.chunksSinceCompact >= this.init.compactEvery) {
      this.chunksSinceCompact = 0
      this.out.push({ type: 'compact', snapshot: this.replica.snapshot() })
    }
  }

  private learn(records: readonly unknown[]): void {
    if (this.table.add(records) > 0) this.news(this.c.clock.now())
  }

  private news(now: number): void {
    this.decideAt = Math.min(this.decideAt, now + this.init.decideMs)
  }

  private misbehaved(from: string, reason: string): void {
    this.stats.dropped++
    this.c.observer?.dropped?.(from, reason)
    this.out.push({ type: 'penalise', peer: from, reason })
  }

  private onRenew(from: string, leases: readonly RenewedLease[], now: number): void {
    const claims: Uint8Array[] = []
    for (const l of leases) {
      if (l.claim !== undefined) claims.push(l.claim)
      // Credited to the sender only: a renewal keeps alive only the sender's own round.
      this.leases.renew(l.job, l.generation, l.round, from, now)
      const j = this.table.get(l.job)
      // A renewal of a round this peer already saw lapse revives it: derive it again.
      if (j !== undefined && j.generation === l.generation && j.round === l.round && j.owner === null) {
        this.table.touch(l.job)
        this.news(now)
      }
    }
    if (claims.length > 0) this.learn(claims)
  }

  private onHeartbeat(from: string, status: PeerStatus, now: number): void {
    if (!this.known.has(from) && this.known.size >= MAX_KNOWN_PEERS) this.pruneKnown(now)
    if (!this.known.has(from) && this.known.size >= MAX_KNOWN_PEERS) return
    this.known.set(from, { peerId: from, status, lastSeen: now })
  }

  private pruneKnown(now: number): void {
    for (const [id, p] of this.known) if (now - p.lastSeen > this.init.workerTtlMs) this.known.delete(id)
  }

  /** Re-derives, lets the scheduler decide and carries out its actions. */
  private decide(now: number): void {
    this.refresh(now)
    const actions: SchedulerAction[] = []
    for (const e of this.exits)
      for (const a of this.scheduler.runExited(this.table, e.ref, e.outcome, now)) actions.push(a)
    this.exits = []
    const mayClaim = this.c.canTrain !== false && (now >= this.catchUpUntil || this.replica.synced)
    const decision = this.scheduler.decide(this.table, now, { mayClaim })
    for (const a of decision.actions) actions.push(a)
    this.execute(actions, now)
    if (this.ownClaims.size > 0 && this.scheduler.claiming.length === 0 && this.scheduler.running.length === 0)
      this.ownClaims.clear()
    let wake = decision.wakeAt ?? Number.POSITIVE_INFINITY
    const deadline = this.table.nextDeadline()
    if (deadline !== undefined) wake = Math.min(wake, deadline + 1)
    if (!mayClaim && now < this.catchUpUntil) wake = Math.min(wake, this.catchUpUntil)
    this.decideAt = Math.max(now + 1, wake)
    if (this.table.stale) this.decideAt = Math.min(this.decideAt, now + 1)
  }

  private refresh(now: number): void {
    const view = this.leases.view(now)
    const changed = this.table.refresh(view)
    // Start the lease clock of rounds seen for the first time (what LeaseTable.observe does,
    // one round at a time: observing the whole table on every decision is what costs).
    for (const j of changed) {
      if ((j.status !== 'claimed' && j.status !== 'running') || j.owner === null) continue
      if (view.lastSeen(j.id, j.generation, j.round, j.owner) === undefined)
        this.leases.renew(j.id, j.generation, j.round, j.owner, now)
    }
    if (changed.length > 0) this.c.observer?.derived?.(changed)
  }

  private execute(actions: readonly SchedulerAction[], now: number): void {
    if (actions.length === 0) return
    const records: Uint8Array[] = []
    const starts: (SchedulerAction & { type: 'start' })[] = []
    const stops: PeerEffect[] = []
    let renewals: readonly RoundRef[] = []
    for (const a of actions) {
      switch (a.type) {
        case 'renew':
          for (const l of a.leases) this.leases.renew(l.job, l.generation, l.round, this.id, now)
          renewals = a.leases
          break
        case 'stop': {
          const ref = { job: a.job, generation: a.generation, round: a.round }
          if (this.runs.delete(a.job)) stops.push({ type: 'stop-run', ref, reason: a.reason })
          this.c.observer?.stopped?.(ref, a.reason)
          break
        }
        default: {
          const bytes = encodeRecord(a.record, this.c.signer)
          records.push(bytes)
          if (a.type === 'claim') this.ownClaims.set(leaseKey(a), bytes)
          if (a.type === 'start') starts.push(a)
          this.c.observer?.wrote?.(a, bytes)
        }
      }
    }
    // Stopping a run needs nothing durable first; do it before anything else.
    for (const s of stops) this.out.push(s)
    if (records.length > 0) {
      this.table.add(records)
      this.replica.write(records, now)
      this.stats.recordsWritten += records.length
      this.decideAt = Math.min(this.decideAt, now + 1)
    }
    // After the write, so that the heads they carry name this decision's records too.
    if (renewals.length > 0) this.renew(renewals)
    for (const s of starts) {
      const job = this.table.get(s.job)
      if (job === undefined) continue
      const ref = { job: s.job, generation: s.generation, round: s.round }
      this.runs.set(s.job, ref)
      this.out.push({ type: 'start-run', run: { ...ref, attempt: s.attempt, spec: job.spec } })
    }
  }

  /** Sends renewals with the claim of each round, so a peer that missed the claim learns it. */
  private renew(leases: readonly RoundRef[], to?: string): void {
    const out: RenewedLease[] = leases.map((l) => {
      const claim = this.ownClaims.get(leaseKey(l))
      return claim === undefined ? l : { ...l, claim }
    })
    const live = new Set([...this.scheduler.claiming, ...this.scheduler.running].map(leaseKey))
    for (const k of this.ownClaims.keys()) if (!live.has(k)) this.ownClaims.delete(k)
    const msg: PeerMessage = { type: 'renew', leases: out, heads: this.replica.heads() }
    this.out.push(to === undefined ? { type: 'broadcast', msg } : { type: 'send', to, msg })
  }
}

/** Whether a submitted spec body says what the job's current spec says (the id aside). */
function sameSpec(current: DerivedJob['spec'], body: object): boolean {
  const { id: _id, ...rest } = current
  return canonicalize(rest) === canonicalize(body)
}
