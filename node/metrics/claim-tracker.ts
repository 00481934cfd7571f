import type { DerivedJob, LocallyLapsed } from '../../crdt/index.ts'
import type { SchedulerAction } from '../scheduler/index.ts'

/** What a {@link ClaimTracker} counted since it was made. */
export interface ClaimCounts {
  /** Claims of this peer that won their round: it started the run. */
  won: number
  /** Claims of this peer that did not: another claim won, or the round ended (cancel, requeue, lapse) first. */
  lost: number
  /** Leases this peer saw lapse (a claimed or running round not renewed for `lease_s`), any owner. */
  lapses: number
}

/** Where the tracker reads what it cannot see in events. */
export interface ClaimTrackerComponents {
  /** This peer's id (the owner of the rounds it wins). */
  readonly selfId: string
  /** Jobs whose lease lapsed by this peer's observations (the core's `table.lapsed()`). */
  readonly lapsed: () => Iterable<LocallyLapsed>
}

interface OpenClaim {
  readonly generation: number
  readonly round: number
}

/**
 * Counts claims won and lost and lease lapses from a peer core's observer events
 * (`wrote` and `derived`), for the metrics.
 *
 * @remarks The scheduler drops a lost claim silently (no stop, no record), so a claim is
 * judged by what follows it: its `start` record means it won; a derived state of its job
 * that no longer shows this peer owning that round means it lost; its `release`
 * (shutdown) is neither. A lapse is counted once per round and owner when the job enters
 * the core's locally-lapsed set. Memory is bounded by the claims in flight and the jobs
 * lapsed now.
 */
export class ClaimTracker {
  readonly counts: ClaimCounts = { won: 0, lost: 0, lapses: 0 }
  private readonly c: ClaimTrackerComponents
  private readonly open = new Map<string, OpenClaim>()
  private readonly lapseSeen = new Map<string, string>()

  constructor(components: ClaimTrackerComponents) {
    this.c = components
  }

  /** The core appended a record it signed (PeerObserver `wrote`). */
  wrote(action: SchedulerAction): void {
    if (action.type === 'claim') {
      this.open.set(action.job, { generation: action.generation, round: action.round })
      return
    }
    if (action.type !== 'start' && action.type !== 'release') return
    const claim = this.open.get(action.job)
    if (claim === undefined || claim.generation !== action.generation || claim.round !== action.round) return
    this.open.delete(action.job)
    if (action.type === 'start') this.counts.won++
  }

  /** Jobs whose derived state changed (PeerObserver `derived`). */
  derived(jobs: readonly DerivedJob[]): void {
    let lapsedNow: Map<string, string> | null = null
    for (const job of jobs) {
      const claim = this.open.get(job.id)
      if (claim !== undefined && !this.holds(job, claim)) {
        this.open.delete(job.id)
        this.counts.lost++
      }
      if ((job.status === 'pending' || job.status === 'failed') && job.round > 0) {
        lapsedNow ??= this.lapsedKeys()
        const key = lapsedNow.get(job.id)
        if (key !== undefined) {
          if (this.lapseSeen.get(job.id) !== key) {
            this.lapseSeen.set(job.id, key)
            this.counts.lapses++
          }
          continue
        }
      }
      this.lapseSeen.delete(job.id)
    }
  }

  private holds(job: DerivedJob, claim: OpenClaim): boolean {
    return (
      job.generation === claim.generation &&
      job.round === claim.round &&
      job.owner === this.c.selfId &&
      (job.status === 'claimed' || job.status === 'running')
    )
  }

  private lapsedKeys(): Map<string, string> {
    const keys = new Map<string, string>()
    for (const { recorded } of this.c.lapsed())
      keys.set(recorded.id, `${recorded.generation}/${recorded.round}/${recorded.owner}`)
    return keys
  }
}
