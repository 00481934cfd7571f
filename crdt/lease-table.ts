import type { DerivedJob, LocalView } from './derive.ts'

/**
 * What one peer observed of leases: when it last saw each round's owner alive.
 *
 * @remarks Renewals are ephemeral messages, never document writes; this table is
 * the only place they land. A round first seen (in a synced document) counts as
 * renewed at that moment, so a peer that restarts gives every owner a full lease
 * before declaring it lapsed. No clock of its own: callers pass `now`.
 */
export class LeaseTable {
  private readonly seen = new Map<string, number>()
  private readonly leaseMs: number

  constructor(init: { leaseMs: number }) {
    this.leaseMs = init.leaseMs
  }

  private static key(job: string, generation: number, round: number, peer: string): string {
    return `${job}/${generation}/${round}/${peer}`
  }

  /** Records a renewal (or any sign of life) of `peer` holding (job, generation, round). */
  renew(job: string, generation: number, round: number, peer: string, now: number): void {
    const k = LeaseTable.key(job, generation, round, peer)
    const prev = this.seen.get(k)
    if (prev === undefined || now > prev) this.seen.set(k, now)
  }

  /**
   * Starts the lease clock of every active round not seen before; forgets rounds that are
   * no longer any job's current round.
   * @remarks A round whose lease lapsed by this peer's observations is still its job's
   * current round (pending, or failed on the final attempt, until a record says more): its
   * last sighting is kept, or the next derivation would see it as fresh and alive again
   * (found by the simulator: a final attempt's lapse flickered away before anyone recorded it).
   */
  observe(jobs: Iterable<DerivedJob>, now: number): void {
    const current = new Set<string>()
    for (const j of jobs) {
      current.add(`${j.id}/${j.generation}/${j.round}`)
      if ((j.status !== 'claimed' && j.status !== 'running') || j.owner === null) continue
      const k = LeaseTable.key(j.id, j.generation, j.round, j.owner)
      if (!this.seen.has(k)) this.seen.set(k, now)
    }
    for (const k of this.seen.keys())
      if (!current.has(k.slice(0, k.lastIndexOf('/'))) && !this.pendingRenewal(k, now)) this.seen.delete(k)
  }

  // Renewals may arrive before the claim they renew has synced; keep them for a lease.
  private pendingRenewal(key: string, now: number): boolean {
    const at = this.seen.get(key)
    return at !== undefined && now - at <= this.leaseMs
  }

  /** How many (round, owner) sightings are kept. */
  get size(): number {
    return this.seen.size
  }

  /** The `LocalView` for `deriveJobs` at time `now`. */
  view(now: number): LocalView {
    return {
      now,
      leaseMs: this.leaseMs,
      lastSeen: (job, generation, round, peer) => this.seen.get(LeaseTable.key(job, generation, round, peer)),
    }
  }
}
