import { createHash } from 'node:crypto'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { keySigner, type Signer, type TrustConfig } from '../crdt/index.ts'
import { encodeMessage } from '../node/index.ts'
import { HEAP_BYTES_PER_PEER_JOB, reserveAutomergeHeap } from './automerge-heap.ts'
import {
  DEFAULT_SIM_CONFIG,
  defaultDurationS,
  FAULTS,
  type Fault,
  type SimConfig,
  type SimOptions,
  simPeerInit,
} from './config.ts'
import { EventQueue } from './event-queue.ts'
import type { SimEvent } from './events.ts'
import { FaultInjector, type FaultStats, type FaultTarget } from './faults.ts'
import { InvariantChecker, type Violation } from './invariants.ts'
import { SimNetwork } from './network.ts'
import { type HostileMember, type OperatorStats, SimOperator } from './operator.ts'
import { type PeerClock, SimPeer } from './peer.ts'
import { mixSeed, Prng } from './prng.ts'
import { Trace } from './trace.ts'
import { makeWorkload, type Workload } from './workload.ts'

/** The `--json` object of `cis490-node sim` (field names are part of the CLI contract). */
export interface SimResult {
  seed: number
  peers: number
  jobs: number
  faults: Fault[]
  virtual_seconds: number
  wall_ms: number
  completed: number
  failed: number
  cancelled: number
  unfinished: number
  runs_started: number
  duplicate_runs: number
  overlaps_across_partitions: number
  max_attempt_seen: number
  converged: boolean
  invariant_violations: Violation[]
  doc_bytes: number
  messages_sent: number
  messages_dropped: number
}

/** More than the contract's fields: what tests and benches look at to see the faults happened. */
export interface SimDetails {
  faults: FaultStats
  operator: OperatorStats
  briefOverlaps: number
  completeRecords: number
  messagesDuplicated: number
  messagesReordered: number
  /** Largest difference between two peers' clocks at the start, ms. */
  clockSpreadMs: number
  trainerFailures: number
  slowRuns: number
  restarts: number
  merges: number
  chunksMerged: number
  bytesMerged: number
  /** Changes that reached a peer again and were neither merged nor learnt twice. */
  knownChanges: number
  syncSessions: number
  syncMessages: number
  wantsSent: number
  events: number
  records: number
  durationS: number
  /** Virtual seconds at which the fault window closed (faults healed). */
  quietAtS: number
  /** When every peer first derived every job of the first manifest load (virtual ms after it), or null. */
  loadConvergedMs: number | null
  /** The largest size each per-peer map reached on any peer (sampled every 5 virtual seconds and at the end). */
  maxMapSizes: Record<string, number>
  /** The same maps' sizes summed over the peers at the end of the run. */
  endMapSizes: Record<string, number>
}

/** A run's result and details. */
export interface SimReport {
  result: SimResult
  details: SimDetails
}

/** Clocks start at a realistic epoch so that record times look like real ones. */
const EPOCH_MS = 1_750_000_000_000
const MONITOR_MS = 1000
const OVERLAP_CHECK_MS = 100

async function seededSigner(seed: number, label: string): Promise<Signer> {
  const bytes = createHash('sha256').update(`cis490-sim/${seed}/${label}`).digest()
  return keySigner(await generateKeyPairFromSeed('Ed25519', new Uint8Array(bytes)))
}

/**
 * One simulated run: N peers with real Automerge job tables and the real scheduler, a
 * virtual clock, a simulated network and injected faults, checked against the invariants.
 * A pure function of its options: the same seed gives the same result (except `wall_ms`).
 */
export async function runSimulation(opts: SimOptions): Promise<SimReport> {
  // Below a few tens of MB the heap's growth costs little.
  const heap = opts.peers * opts.jobs * HEAP_BYTES_PER_PEER_JOB
  if (opts.reserveHeap !== false && heap >= 64 * 2 ** 20) reserveAutomergeHeap(heap)
  const sim = await Simulation.create(opts)
  return sim.run()
}

class Simulation implements FaultTarget {
  readonly peers: number
  private readonly opts: SimOptions
  private readonly cfg: SimConfig
  private readonly faults: ReadonlySet<Fault>
  private readonly windowMs: number
  private readonly workload: Workload
  private readonly queue = new EventQueue<SimEvent>()
  private readonly trace = new Trace()
  private readonly network: SimNetwork<Uint8Array>
  private readonly checker: InvariantChecker
  private readonly nodes: SimPeer[] = []
  private readonly operator: SimOperator
  private readonly injector: FaultInjector
  private readonly rng: Prng
  private phase: 'faults' | 'quiet' = 'faults'
  private quietAt = 0
  private done = false
  private overlapCheck = false
  private events = 0
  private forgedActors = 0
  private monitorTicks = 0
  private readonly maxSizes: Record<string, number> = {}

  private constructor(opts: SimOptions, signers: Signer[], operator: Signer, stranger: Signer) {
    this.opts = opts
    this.peers = opts.peers
    this.cfg = { ...DEFAULT_SIM_CONFIG, ...opts.config }
    this.faults = new Set(opts.faults)
    const cfg = this.cfg
    this.windowMs = (opts.durationS ?? defaultDurationS(opts.peers, opts.jobs, cfg)) * 1000
    this.rng = Prng.stream(opts.seed, 'world')
    this.workload = makeWorkload(opts.peers, opts.jobs, Prng.stream(opts.seed, 'workload'), {
      reloadShare: this.faults.has('ops') ? cfg.reloadShare : 0,
      trainMinMs: cfg.trainMinMs,
      trainMaxMs: cfg.trainMaxMs,
    })
    const trust: TrustConfig = { operatorKeys: new Set([operator.id]), hosts: this.workload.policies }
    this.network = new SimNetwork<Uint8Array>(opts.peers, Prng.stream(opts.seed, 'network'), cfg, (at, d) =>
      this.queue.push(at, d),
    )
    this.checker = new InvariantChecker({
      network: this.network,
      trace: this.trace,
      policies: this.workload.policies,
      graceMs: cfg.settleMs,
    })
    this.checker.setPeers(opts.peers)
    const clockRng = Prng.stream(opts.seed, 'clocks')
    const skew = this.faults.has('skew')
    const clockOf = (): PeerClock =>
      skew
        ? {
            offset: EPOCH_MS + Math.round(clockRng.range(-cfg.skewMaxMs, cfg.skewMaxMs)),
            rate: 1 + clockRng.range(-cfg.driftMax, cfg.driftMax),
          }
        : { offset: EPOCH_MS, rate: 1 }
    const peerIds = signers.map((s) => s.id)
    const env = {
      seed: opts.seed,
      cfg,
      peerInit: simPeerInit(cfg),
      peerIds,
      indexOf: new Map(peerIds.map((id, i) => [id, i])),
      faults: this.faults,
      trust,
      workload: this.workload,
      network: this.network,
      trace: this.trace,
      checker: this.checker,
      now: () => this.queue.now,
      schedule: (at: number, ev: SimEvent) => this.queue.push(at, ev),
    }
    for (let i = 0; i < opts.peers; i++)
      this.nodes.push(new SimPeer(env, i, signers[i], this.workload.hosts[i], clockOf()))
    const forgers = [stranger, ...signers.slice(0, Math.min(3, signers.length))]
    this.operator = new SimOperator({
      signer: operator,
      forgers,
      rng: Prng.stream(opts.seed, 'operator'),
      checker: this.checker,
      trace: this.trace,
      clockOffset: clockOf().offset,
    })
    this.injector = new FaultInjector(this, Prng.stream(opts.seed, 'faults'), cfg, this.faults, {
      ms: this.windowMs,
      jobs: opts.jobs,
    })
  }

  static async create(opts: SimOptions): Promise<Simulation> {
    if (!Number.isInteger(opts.peers) || opts.peers < 1)
      throw new RangeError(`peers must be a positive integer, got ${opts.peers}`)
    if (!Number.isInteger(opts.jobs) || opts.jobs < 0)
      throw new RangeError(`jobs must be a non-negative integer, got ${opts.jobs}`)
    const signers = await Promise.all(
      Array.from({ length: opts.peers }, (_, i) => seededSigner(opts.seed, `peer/${i}`)),
    )
    const operator = await seededSigner(opts.seed, 'operator')
    const stranger = await seededSigner(opts.seed, 'stranger')
    return new Simulation(opts, signers, operator, stranger)
  }

  // ---- FaultTarget ----------------------------------------------------------------------

  now(): number {
    return this.queue.now
  }

  injecting(): boolean {
    return this.phase === 'faults'
  }

  at(time: number, run: () => void): void {
    this.queue.push(time, { type: 'fault', run })
  }

  isUp(peer: number): boolean {
    return this.nodes[peer].up
  }

  crash(peer: number): void {
    const now = this.queue.now
    this.checker.evaluate(now)
    this.nodes[peer].crash(now)
    this.network.setUp(peer, false)
    this.relink(now)
    this.checker.evaluate(now)
  }

  restart(peer: number): void {
    const now = this.queue.now
    this.network.setUp(peer, true)
    this.nodes[peer].restart(now, this.network.incarnation(peer))
    this.relink(now)
  }

  /** Tells every peer which links it gained and lost (what libp2p's connection events are to a node). */
  private relink(now: number): void {
    const { fresh, lost } = this.network.refresh(now)
    for (let p = 0; p < this.peers; p++) {
      if (lost[p].length > 0) this.nodes[p].disconnected(lost[p])
      if (fresh[p].length > 0) this.nodes[p].connected(fresh[p])
    }
  }

  partition(groupA: readonly number[], groupB: readonly number[], symmetric: boolean): void {
    const now = this.queue.now
    this.checker.evaluate(now)
    for (const a of groupA)
      for (const b of groupB) {
        this.network.setBlocked(a, b, true)
        if (symmetric) this.network.setBlocked(b, a, true)
      }
    this.relink(now)
    this.checker.evaluate(now)
    const side = (g: readonly number[]) => (g.length <= 8 ? g.join(',') : `${g.length} peers`)
    this.trace.add({
      at: now,
      peer: -1,
      kind: symmetric ? 'partition' : 'one-way partition',
      detail: `{${side(groupA)}} ${symmetric ? '|' : '-/->'} {${side(groupB)}}`,
    })
  }

  healPartition(): void {
    const now = this.queue.now
    this.network.healAll()
    this.reconnect(now)
    this.trace.add({ at: now, peer: -1, kind: 'heal' })
  }

  private reconnect(now: number): void {
    this.relink(now)
    this.checker.evaluate(now)
  }

  private anyUpPeer(): SimPeer {
    const up = this.nodes.filter((p) => p.up)
    return this.rng.pick(up.length > 0 ? up : this.nodes)
  }

  operatorCancel(): void {
    if (this.injecting()) this.operator.cancel(this.anyUpPeer(), this.queue.now)
  }

  operatorRequeue(): void {
    if (this.injecting()) this.operator.requeue(this.anyUpPeer(), this.queue.now)
  }

  operatorReload(): void {
    if (this.injecting()) this.operator.reload(this.anyUpPeer(), this.workload.jobs, this.queue.now)
  }

  forge(): void {
    if (this.injecting()) this.operator.forge(this.anyUpPeer(), this.queue.now, this.hostile)
  }

  /** The member that pushes forged records as Automerge changes: it speaks from the relaying peer's links. */
  private readonly hostile: HostileMember = {
    actor: () => {
      this.forgedActors++
      let out = ''
      for (let k = 0; k < 4; k++)
        out += mixSeed(this.opts.seed, `hostile/${this.forgedActors}/${k}`).toString(16).padStart(8, '0')
      return out
    },
    push: (via, msg) => {
      const bytes = encodeMessage(msg)
      const now = this.queue.now
      for (let j = 0; j < this.peers; j++) {
        if (j !== via) this.network.send(via, j, bytes, now)
        else if (this.peers > 1) this.nodes[via].receive((via + 1) % this.peers, bytes)
      }
    },
  }

  // ---- the run --------------------------------------------------------------------------

  async run(): Promise<SimReport> {
    const wallStart = performance.now()
    const cfg = this.cfg
    this.network.faults.drop = this.faults.has('drop')
    this.network.faults.dup = this.faults.has('dup')
    this.network.faults.reorder = this.faults.has('reorder')
    this.operator.load(this.nodes[0], this.workload.jobs.slice(0, this.workload.initialJobs), 0)
    for (const p of this.nodes) {
      p.connected(this.nodes.filter((o) => o !== p).map((o) => o.index))
      p.start()
    }
    this.injector.start()
    this.queue.push(MONITOR_MS, { type: 'monitor' })
    const hardStop = this.windowMs + cfg.quietMaxS * 1000
    while (!this.done) {
      const ev = this.queue.pop()
      if (ev === undefined) break
      this.events++
      this.dispatch(ev)
      if (this.checker.watching && !this.overlapCheck) {
        this.overlapCheck = true
        this.queue.push(this.queue.now + OVERLAP_CHECK_MS, { type: 'check-overlaps' })
      }
      if (this.queue.now > hardStop) break
    }
    return this.finish(performance.now() - wallStart)
  }

  private dispatch(ev: SimEvent): void {
    const now = this.queue.now
    switch (ev.type) {
      case 'deliver':
        if (this.network.accept(ev)) this.nodes[ev.to].receive(ev.from, ev.msg)
        return
      case 'tick':
        this.nodes[ev.peer].onTick(ev)
        return
      case 'exit':
        this.nodes[ev.peer].onExit(ev)
        return
      case 'fault':
        ev.run()
        return
      case 'monitor':
        this.monitor(now)
        return
      case 'check-overlaps':
        this.overlapCheck = false
        this.checker.evaluate(now)
        return
    }
  }

  /** Every job terminal on every peer, nothing running, no lapse left to record. */
  private settled(): boolean {
    const total = this.workload.jobs.length
    for (const p of this.nodes) {
      if (!p.up || p.activeRuns > 0) return false
      // As of now: records may have arrived since the peer's last decision.
      p.core.jobs()
      const t = p.table
      if (t.jobCount < total || t.pending().length > 0 || t.activeCount > 0) return false
      for (const _ of t.lapsed()) return false
    }
    return true
  }

  private headsEqual(): boolean {
    const key = (p: SimPeer) => p.heads().slice().sort().join()
    const first = key(this.nodes[0])
    return this.nodes.every((p) => key(p) === first)
  }

  private monitor(now: number): void {
    // Every map a peer keeps must stay bounded by live jobs and peers, not grow with history.
    if (++this.monitorTicks % 5 === 0)
      for (const p of this.nodes)
        if (p.up) for (const [k, v] of Object.entries(p.sizes())) if (v > (this.maxSizes[k] ?? 0)) this.maxSizes[k] = v
    if (this.phase === 'faults' && (now >= this.windowMs || this.settled())) this.goQuiet(now)
    else if (this.phase === 'quiet') {
      if ((this.settled() && this.headsEqual()) || now >= this.quietAt + this.cfg.quietMaxS * 1000) {
        this.done = true
        return
      }
    }
    this.queue.push(now + MONITOR_MS, { type: 'monitor' })
  }

  /** The fault window closes: links heal, message faults stop, crashed peers come back. */
  private goQuiet(now: number): void {
    this.phase = 'quiet'
    this.quietAt = now
    this.injector.stop()
    this.network.faults.drop = false
    this.network.faults.dup = false
    this.network.faults.reorder = false
    this.network.healAll()
    for (const p of this.nodes) if (!p.up) this.restart(p.index)
    this.reconnect(now)
    this.trace.add({ at: now, peer: -1, kind: 'quiet', detail: 'faults off, links healed, every peer up' })
  }

  private endSizes(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const p of this.nodes)
      if (p.up)
        for (const [k, v] of Object.entries(p.sizes())) {
          out[k] = (out[k] ?? 0) + v
          if (v > (this.maxSizes[k] ?? 0)) this.maxSizes[k] = v
        }
    return out
  }

  private finish(wallMs: number): SimReport {
    const now = this.queue.now
    if (this.phase === 'faults') this.goQuiet(now)
    const ids = this.workload.jobs.map((j) => j.id as string)
    for (const p of this.nodes) if (p.up) p.core.jobs()
    const converged = this.checker.final(this.nodes, ids, now)
    const table = this.nodes[0].table
    let completed = 0
    let failed = 0
    let cancelled = 0
    for (const id of ids) {
      const s = table.get(id)?.status
      if (s === 'completed') completed++
      else if (s === 'failed') failed++
      else if (s === 'cancelled') cancelled++
    }
    const stats = this.checker.stats
    const sum = (f: (p: SimPeer) => number) => this.nodes.reduce((a, p) => a + f(p), 0)
    const result: SimResult = {
      seed: this.opts.seed,
      peers: this.peers,
      jobs: ids.length,
      faults: FAULTS.filter((f) => this.faults.has(f)),
      virtual_seconds: Math.round(now) / 1000,
      wall_ms: Math.round(wallMs),
      completed,
      failed,
      cancelled,
      unfinished: ids.length - completed - failed - cancelled,
      runs_started: stats.runsStarted,
      duplicate_runs: stats.duplicateRuns,
      overlaps_across_partitions: stats.overlapsAcrossPartitions,
      max_attempt_seen: stats.maxAttemptSeen,
      converged,
      invariant_violations: this.checker.violations,
      doc_bytes: this.nodes[0].core.replica.save().length,
      messages_sent: this.network.stats.sent,
      messages_dropped: this.network.stats.dropped,
    }
    const details: SimDetails = {
      faults: this.injector.stats,
      operator: this.operator.stats,
      briefOverlaps: stats.briefOverlaps,
      completeRecords: stats.completeRecords,
      messagesDuplicated: this.network.stats.duplicated,
      messagesReordered: this.network.stats.reordered,
      clockSpreadMs: Math.round(
        Math.max(...this.nodes.map((p) => p.clock.offset)) - Math.min(...this.nodes.map((p) => p.clock.offset)),
      ),
      trainerFailures: sum((p) => p.stats.trainerFailures),
      slowRuns: sum((p) => p.stats.slowRuns),
      restarts: sum((p) => p.stats.restarts),
      merges: sum((p) => p.replicaStats().merges),
      chunksMerged: sum((p) => p.replicaStats().chunksMerged),
      bytesMerged: sum((p) => p.replicaStats().bytesMerged),
      knownChanges: sum((p) => p.replicaStats().knownChanges),
      syncSessions: sum((p) => p.replicaStats().syncSessions),
      syncMessages: sum((p) => p.replicaStats().syncMessages),
      wantsSent: sum((p) => p.replicaStats().wantsSent),
      events: this.events,
      records: table.size,
      durationS: this.windowMs / 1000,
      quietAtS: this.quietAt / 1000,
      loadConvergedMs: this.checker.loadConvergedMs,
      maxMapSizes: this.maxSizes,
      endMapSizes: this.endSizes(),
    }
    return { result, details }
  }
}
