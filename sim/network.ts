import type { SimConfig } from './config.ts'
import type { Prng } from './prng.ts'

/** A message in flight, as the event queue holds it. */
export interface Delivery<M> {
  readonly type: 'deliver'
  readonly from: number
  readonly to: number
  /** The destination's incarnation at send time: a restart resets its connections. */
  readonly incarnation: number
  readonly msg: M
}

/** Which message faults are on (the quiet phase turns them off). */
export interface LinkFaults {
  drop: boolean
  dup: boolean
  reorder: boolean
}

/** Counters of the network. */
export interface NetworkStats {
  sent: number
  dropped: number
  duplicated: number
  /** Messages that arrived before one sent earlier on the same link. */
  reordered: number
}

/**
 * The simulated network between peers: per-message latency with jitter, optional drops,
 * duplicates and reordering, partitions as blocked directed links, and peers that are up or down.
 *
 * @remarks Without the reorder fault each link is FIFO (as a TCP stream is). A pair of peers is
 * *connected* when both are up and both directions are open; `connectedSince` tells since when,
 * which is what the duplicate-run invariant measures against.
 */
export class SimNetwork<M> {
  readonly n: number
  readonly faults: LinkFaults = { drop: false, dup: false, reorder: false }
  readonly stats: NetworkStats = { sent: 0, dropped: 0, duplicated: 0, reordered: 0 }
  private readonly rng: Prng
  private readonly cfg: SimConfig
  private readonly schedule: (at: number, d: Delivery<M>) => void
  private readonly up: boolean[]
  private readonly incarnations: number[]
  private readonly blocked: Uint8Array
  private readonly since: Float64Array
  private readonly lastArrival: Float64Array

  constructor(n: number, rng: Prng, cfg: SimConfig, schedule: (at: number, d: Delivery<M>) => void) {
    this.n = n
    this.rng = rng
    this.cfg = cfg
    this.schedule = schedule
    this.up = new Array(n).fill(true)
    this.incarnations = new Array(n).fill(0)
    this.blocked = new Uint8Array(n * n)
    this.since = new Float64Array(n * n).fill(0)
    this.lastArrival = new Float64Array(n * n)
  }

  isUp(peer: number): boolean {
    return this.up[peer]
  }

  incarnation(peer: number): number {
    return this.incarnations[peer]
  }

  /** Sends `msg`; it arrives after a latency unless a fault or a partition drops it. */
  send(from: number, to: number, msg: M, now: number): void {
    this.stats.sent++
    if (!this.up[from] || !this.up[to] || this.blocked[from * this.n + to] === 1) {
      this.stats.dropped++
      return
    }
    if (this.faults.drop && this.rng.chance(this.cfg.dropRate)) {
      this.stats.dropped++
      return
    }
    const copies = this.faults.dup && this.rng.chance(this.cfg.dupRate) ? 2 : 1
    if (copies === 2) this.stats.duplicated++
    for (let c = 0; c < copies; c++) {
      let at = now + this.rng.range(this.cfg.latencyMinMs, this.cfg.latencyMaxMs)
      const link = from * this.n + to
      if (this.faults.reorder) at += this.rng.range(0, this.cfg.reorderMaxMs)
      else at = Math.max(at, this.lastArrival[link])
      if (at < this.lastArrival[link]) this.stats.reordered++
      else this.lastArrival[link] = at
      this.schedule(at, { type: 'deliver', from, to, incarnation: this.incarnations[to], msg })
    }
  }

  /** Whether a delivery still reaches its destination (up, same incarnation); counts it dropped if not. */
  accept(d: Delivery<M>): boolean {
    if (this.up[d.to] && this.incarnations[d.to] === d.incarnation) return true
    this.stats.dropped++
    return false
  }

  /** Whether `a` and `b` are both up and can reach each other both ways. */
  connected(a: number, b: number): boolean {
    return this.since[a * this.n + b] !== Number.POSITIVE_INFINITY
  }

  /** Since when `a` and `b` have been connected without interruption (Infinity when they are not). */
  connectedSince(a: number, b: number): number {
    return this.since[a * this.n + b]
  }

  /** Takes a peer down (crash) or brings it back (restart, with a new incarnation). */
  setUp(peer: number, up: boolean): void {
    if (!up && this.up[peer]) this.up[peer] = false
    else if (up && !this.up[peer]) {
      this.up[peer] = true
      this.incarnations[peer]++
    }
  }

  /** Blocks or opens the directed link `from` → `to`. */
  setBlocked(from: number, to: number, blocked: boolean): void {
    this.blocked[from * this.n + to] = blocked ? 1 : 0
  }

  /** Opens every link. */
  healAll(): void {
    this.blocked.fill(0)
  }

  /**
   * Recomputes connectivity after links or peers changed.
   * @returns for each peer, the peers it just became connected to (`fresh`) and those it just lost (`lost`).
   */
  refresh(now: number): { fresh: number[][]; lost: number[][] } {
    const fresh: number[][] = Array.from({ length: this.n }, () => [])
    const lost: number[][] = Array.from({ length: this.n }, () => [])
    for (let a = 0; a < this.n; a++) {
      for (let b = 0; b < this.n; b++) {
        if (a === b) continue
        const c = this.up[a] && this.up[b] && this.blocked[a * this.n + b] === 0 && this.blocked[b * this.n + a] === 0
        const k = a * this.n + b
        if (c && this.since[k] === Number.POSITIVE_INFINITY) {
          this.since[k] = now
          fresh[a].push(b)
        } else if (!c && this.since[k] !== Number.POSITIVE_INFINITY) {
          this.since[k] = Number.POSITIVE_INFINITY
          lost[a].push(b)
        }
      }
    }
    return { fresh, lost }
  }
}
