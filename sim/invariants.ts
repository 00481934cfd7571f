import { type DerivedJob, type DerivedTable, decodeRecord, hostMayRun, isTerminal } from '../crdt/index.ts'
import type { HostPolicy, JobSpec } from '../manifests/index.ts'
import { type HostCapability, mayRun, type RoundRef, type SchedulerAction } from '../node/index.ts'
import type { SimNetwork } from './network.ts'
import type { Trace } from './trace.ts'

/** What the checker reads of a peer (its own view; the checker holds the ground truth). */
export interface CheckedPeer {
  readonly index: number
  readonly up: boolean
  readonly table: Pick<DerivedTable, 'get' | 'recordsOf' | 'hasRecord'>
  readonly capability: HostCapability
  /** The heads of the peer's document. */
  heads(): readonly string[]
}

/** The seven invariants of the simulator (numbered as in the issue). */
export const INVARIANTS = {
  1: 'no duplicate runs while connected',
  2: 'attempts within max_attempts',
  3: 'convergence after healing',
  4: 'every job terminal',
  5: 'one result per generation, never lost',
  6: 'only operator-signed commands count',
  7: 'runs only where constraints and policy allow',
} as const
export type InvariantNumber = keyof typeof INVARIANTS

/** A violated invariant, with the events that led to it. */
export interface Violation {
  readonly invariant: InvariantNumber
  readonly name: string
  /** Virtual ms. */
  readonly at_ms: number
  readonly message: string
  readonly events: readonly string[]
}

interface ActiveRun {
  readonly peer: number
  readonly ref: RoundRef
  readonly startedAt: number
  readonly overlaps: Overlap[]
}

interface Overlap {
  readonly a: ActiveRun
  readonly b: ActiveRun
  readonly start: number
  disconnected: boolean
  duplicate: boolean
}

/** Counters the checker keeps for the report. */
export interface CheckerStats {
  runsStarted: number
  duplicateRuns: number
  overlapsAcrossPartitions: number
  /** Overlaps between connected peers shorter than the grace window (not violations). */
  briefOverlaps: number
  maxAttemptSeen: number
  completeRecords: number
}

function constraintsKey(spec: Omit<JobSpec<string>, 'id'>): string {
  return JSON.stringify([
    spec.model,
    spec.mode,
    spec.seed,
    spec.priority,
    spec.require_cuda,
    spec.prefer_cuda,
    spec.min_vram_gib,
    spec.min_ram_gib,
    spec.allowed_hosts,
    spec.max_attempts,
  ])
}

/**
 * Checks the invariants while a run goes (on every derived change, run start and stop,
 * and result written) and after it (convergence, terminal states, no lost result).
 *
 * @remarks The checker holds the ground truth the peers cannot see: which operator
 * commands were really issued, which host really has what, which runs really overlapped
 * and whether their peers could reach each other meanwhile. A run is a duplicate when it
 * overlaps another run of the same job generation while their peers have been connected
 * for at least `graceMs` (the settle window: what a claim needs to reach a peer);
 * overlaps that span a disconnection are counted separately.
 */
export class InvariantChecker {
  readonly violations: Violation[] = []
  readonly stats: CheckerStats = {
    runsStarted: 0,
    duplicateRuns: 0,
    overlapsAcrossPartitions: 0,
    briefOverlaps: 0,
    maxAttemptSeen: 0,
    completeRecords: 0,
  }
  private readonly network: SimNetwork<Uint8Array>
  private readonly trace: Trace
  private readonly policies: ReadonlyMap<string, HostPolicy>
  private readonly graceMs: number
  private readonly maxViolations: number
  private readonly legitSpecs = new Map<string, Set<string>>()
  /** Per peer: the jobs it has derived so far, until it first holds every job loaded. */
  private readonly derivedSoFar = new Map<number, Set<string>>()
  /** Per peer: when it first derived every job the operator had loaded (virtual ms). */
  private readonly fullTableAt = new Map<number, number>()
  private peers = 0
  private readonly legitCancels = new Set<string>()
  private readonly legitRequeues = new Set<string>()
  private readonly runsByKey = new Map<string, ActiveRun[]>()
  private readonly runsByPeer = new Map<number, number>()
  private readonly open = new Set<Overlap>()
  private readonly completedSeen = new Map<string, number>()
  private readonly results: { job: string; key: string; at: number; peer: number }[] = []

  constructor(init: {
    network: SimNetwork<Uint8Array>
    trace: Trace
    policies: ReadonlyMap<string, HostPolicy>
    graceMs: number
    maxViolations?: number
  }) {
    this.network = init.network
    this.trace = init.trace
    this.policies = init.policies
    this.graceMs = init.graceMs
    this.maxViolations = init.maxViolations ?? 20
  }

  private violate(invariant: InvariantNumber, at: number, message: string, job?: string, peers?: number[]): void {
    if (this.violations.length >= this.maxViolations) return
    this.violations.push({
      invariant,
      name: INVARIANTS[invariant],
      at_ms: Math.round(at),
      message,
      events: this.trace.related({ job, peers }),
    })
  }

  // ---- ground truth of the operator --------------------------------------------------------

  /** The operator issued this spec (by a manifest load or reload). */
  legitSpec(spec: JobSpec): void {
    let set = this.legitSpecs.get(spec.id)
    if (set === undefined) {
      set = new Set()
      this.legitSpecs.set(spec.id, set)
    }
    set.add(constraintsKey(spec))
  }

  /** How many peers the run has (for `loadConvergedMs`). */
  setPeers(n: number): void {
    this.peers = n
  }

  private noteFullTable(peer: CheckedPeer, jobs: readonly DerivedJob[], now: number): void {
    if (this.fullTableAt.has(peer.index) || this.legitSpecs.size === 0) return
    let seen = this.derivedSoFar.get(peer.index)
    if (seen === undefined) {
      seen = new Set()
      this.derivedSoFar.set(peer.index, seen)
    }
    for (const j of jobs) seen.add(j.id)
    if (seen.size >= this.legitSpecs.size) {
      this.fullTableAt.set(peer.index, now)
      this.derivedSoFar.delete(peer.index)
    }
  }

  /** When every peer first derived every job loaded so far (virtual ms), or null if some never did. */
  get loadConvergedMs(): number | null {
    if (this.fullTableAt.size < this.peers) return null
    return Math.max(...this.fullTableAt.values())
  }

  /** The operator cancelled generation `g` of `job`. */
  legitCancel(job: string, g: number): void {
    this.legitCancels.add(`${job}/${g}`)
  }

  /** The operator requeued `job` into generation `g`. */
  legitRequeue(job: string, g: number): void {
    this.legitRequeues.add(`${job}/${g}`)
  }

  // ---- during the run -------------------------------------------------------------------

  /** A peer's API accepted a forged operator command (it must refuse every one). */
  forgeryAccepted(message: string, job: string, now: number): void {
    this.violate(6, now, message, job)
  }

  /** A peer derived new states for `jobs`. Checks invariants 2 and 6, and remembers results seen. */
  onDerived(peer: CheckedPeer, jobs: readonly DerivedJob[], now: number): void {
    if (this.fullTableAt.size < this.peers) this.noteFullTable(peer, jobs, now)
    for (const j of jobs) {
      const specs = this.legitSpecs.get(j.id)
      if (specs === undefined) {
        this.violate(6, now, `p${peer.index} derives job ${j.id.slice(0, 12)} that no operator loaded`, j.id)
        continue
      }
      if (!specs.has(constraintsKey(j.spec)))
        this.violate(6, now, `p${peer.index} derives ${j.id.slice(0, 12)} with a spec no operator wrote`, j.id)
      if (j.generation > 0 && !this.legitRequeues.has(`${j.id}/${j.generation}`))
        this.violate(
          6,
          now,
          `p${peer.index} sees ${j.id.slice(0, 12)} in generation ${j.generation}, never requeued`,
          j.id,
        )
      if (j.status === 'cancelled' && !this.legitCancels.has(`${j.id}/${j.generation}`))
        this.violate(6, now, `p${peer.index} sees ${j.id.slice(0, 12)} cancelled, never cancelled by an operator`, j.id)
      const max = j.spec.max_attempts
      if (j.attempt > max || j.attemptsUsed > max)
        this.violate(
          2,
          now,
          `p${peer.index}: ${j.id.slice(0, 12)} at attempt ${j.attempt}/${max} (used ${j.attemptsUsed})`,
          j.id,
        )
      if (j.status === 'failed' && j.attemptsUsed < max)
        this.violate(
          2,
          now,
          `p${peer.index}: ${j.id.slice(0, 12)} failed after ${j.attemptsUsed} of ${max} attempts`,
          j.id,
        )
      if (j.attempt > this.stats.maxAttemptSeen) this.stats.maxAttemptSeen = j.attempt
      if (j.status === 'completed') {
        const prev = this.completedSeen.get(j.id)
        if (prev === undefined || j.generation > prev) this.completedSeen.set(j.id, j.generation)
      }
    }
  }

  /** A peer started training. Checks invariants 7 and 2, and starts tracking overlaps (1). */
  onRunStart(peer: CheckedPeer, ref: RoundRef, attempt: number, now: number): void {
    this.stats.runsStarted++
    const job = peer.table.get(ref.job)
    const cap = peer.capability
    if (job === undefined) this.violate(7, now, `p${peer.index} started unknown job ${ref.job.slice(0, 12)}`, ref.job)
    else {
      if (!mayRun(cap, job.spec, this.policies))
        this.violate(
          7,
          now,
          `p${peer.index} (${cap.hostname}) runs ${ref.job.slice(0, 12)} its constraints exclude`,
          ref.job,
        )
      if (attempt > job.spec.max_attempts)
        this.violate(2, now, `p${peer.index} starts attempt ${attempt} of ${job.spec.max_attempts}`, ref.job)
    }
    if (attempt > this.stats.maxAttemptSeen) this.stats.maxAttemptSeen = attempt
    const running = (this.runsByPeer.get(peer.index) ?? 0) + 1
    this.runsByPeer.set(peer.index, running)
    const limit = this.policies.get(cap.hostname)?.max_concurrent ?? 1
    if (running > limit)
      this.violate(7, now, `p${peer.index} (${cap.hostname}) runs ${running} jobs, max_concurrent ${limit}`, ref.job)
    const key = `${ref.job}/${ref.generation}`
    const run: ActiveRun = { peer: peer.index, ref, startedAt: now, overlaps: [] }
    const others = this.runsByKey.get(key) ?? []
    for (const o of others) {
      const ov: Overlap = {
        a: o,
        b: run,
        start: now,
        disconnected: !this.network.connected(o.peer, run.peer),
        duplicate: false,
      }
      o.overlaps.push(ov)
      run.overlaps.push(ov)
      this.open.add(ov)
      this.trace.add({ at: now, peer: -1, kind: 'overlap', job: ref.job, detail: `p${o.peer} & p${run.peer}` })
    }
    others.push(run)
    this.runsByKey.set(key, others)
  }

  /** A run ended (exit, stop or crash). Settles its overlaps. */
  onRunStop(peer: CheckedPeer, ref: RoundRef, now: number): void {
    this.runsByPeer.set(peer.index, Math.max(0, (this.runsByPeer.get(peer.index) ?? 0) - 1))
    const key = `${ref.job}/${ref.generation}`
    const list = this.runsByKey.get(key)
    if (list === undefined) return
    const i = list.findIndex((r) => r.peer === peer.index && r.ref.round === ref.round)
    if (i < 0) return
    const [run] = list.splice(i, 1)
    if (list.length === 0) this.runsByKey.delete(key)
    this.evaluate(now)
    for (const ov of run.overlaps) {
      if (!this.open.delete(ov)) continue
      if (ov.duplicate) continue
      if (ov.disconnected) this.stats.overlapsAcrossPartitions++
      else this.stats.briefOverlaps++
    }
  }

  /** Whether overlaps are open (the runner then calls `evaluate` periodically). */
  get watching(): boolean {
    return this.open.size > 0
  }

  /** Checks open overlaps against connectivity (call periodically and on connectivity changes). */
  evaluate(now: number): void {
    for (const ov of this.open) {
      if (ov.duplicate) continue
      const a = ov.a.peer
      const b = ov.b.peer
      if (!this.network.connected(a, b)) {
        ov.disconnected = true
        continue
      }
      const since = Math.max(ov.start, this.network.connectedSince(a, b))
      if (now - since >= this.graceMs) {
        ov.duplicate = true
        this.stats.duplicateRuns++
        this.violate(
          1,
          now,
          `p${a} and p${b} both train ${ov.a.ref.job.slice(0, 12)} generation ${ov.a.ref.generation} ` +
            `(rounds ${ov.a.ref.round} and ${ov.b.ref.round}) while connected for ${((now - since) / 1000).toFixed(2)} s`,
          ov.a.ref.job,
          [a, b],
        )
      }
    }
  }

  /** A peer records a result. Invariant 5: never for a generation it already sees completed. */
  onCompleteWritten(
    peer: CheckedPeer,
    a: SchedulerAction & { type: 'complete' },
    bytes: Uint8Array,
    now: number,
  ): void {
    this.stats.completeRecords++
    const job = peer.table.get(a.job)
    if (job !== undefined && job.status === 'completed' && job.generation === a.generation)
      this.violate(5, now, `p${peer.index} records a second result for ${a.job.slice(0, 12)} g${a.generation}`, a.job)
    const key = decodeRecord(bytes)?.key
    if (key !== undefined) this.results.push({ job: a.job, key, at: now, peer: peer.index })
  }

  // ---- after the run --------------------------------------------------------------------

  /**
   * Final checks once the fleet healed and went quiet: convergence (3), terminal jobs (4),
   * results kept (5), failures only after their attempts (2).
   * @returns whether the peers converged.
   */
  final(peers: readonly CheckedPeer[], jobIds: readonly string[], now: number): boolean {
    const live = peers.filter((p) => p.up)
    let converged = live.length === peers.length
    if (!converged) this.violate(3, now, `${peers.length - live.length} peers still down at the end`)
    const ref = live[0]
    const headsOf = (p: CheckedPeer) => p.heads().slice().sort().join()
    const refHeads = headsOf(ref)
    for (const p of live) {
      if (headsOf(p) !== refHeads) {
        converged = false
        this.violate(3, now, `p${p.index} heads differ from p${ref.index}'s after healing`, undefined, [
          p.index,
          ref.index,
        ])
        break
      }
    }
    const project = (j: DerivedJob | undefined) =>
      j === undefined
        ? 'missing'
        : `${j.status}/${j.generation}/${j.attempt}/${j.round}/${j.owner ?? ''}/${j.bundle ?? ''}/${j.spec.priority}`
    for (const p of live) {
      for (const id of jobIds) {
        const mine = project(p.table.get(id))
        const theirs = project(ref.table.get(id))
        if (mine !== theirs) {
          converged = false
          this.violate(3, now, `p${p.index} derives ${id.slice(0, 12)} as ${mine}, p${ref.index} as ${theirs}`, id)
          break
        }
      }
    }
    for (const id of jobIds) {
      const j = ref.table.get(id)
      if (j === undefined || !isTerminal(j.status)) {
        this.violate(4, now, `job ${id.slice(0, 12)} ends ${j?.status ?? 'unknown'}`, id)
        continue
      }
      if (j.status === 'failed') {
        const rounds = new Set<number>()
        for (const bytes of ref.table.recordsOf(id)) {
          const r = decodeRecord(bytes)?.record
          if (r?.t === 'claim' && r.g === j.generation && hostMayRun(j.spec, r.host, this.policies)) rounds.add(r.r)
        }
        if (rounds.size < j.spec.max_attempts)
          this.violate(
            2,
            now,
            `${id.slice(0, 12)} failed after ${rounds.size} rounds, max_attempts ${j.spec.max_attempts}`,
            id,
          )
      }
    }
    for (const [id, g] of this.completedSeen) {
      const j = ref.table.get(id)
      const kept =
        j !== undefined &&
        ((j.status === 'completed' && j.generation === g) ||
          j.generation > g ||
          (j.status === 'cancelled' && this.legitCancels.has(`${id}/${j.generation}`)))
      if (!kept)
        this.violate(
          5,
          now,
          `${id.slice(0, 12)} was seen completed in generation ${g}, ends ${j?.status ?? 'unknown'}`,
          id,
        )
    }
    for (const r of this.results) {
      if (!ref.table.hasRecord(r.job, r.key))
        this.violate(5, now, `the result p${r.peer} recorded for ${r.job.slice(0, 12)} is lost`, r.job, [r.peer])
    }
    return converged
  }
}
