/** Options of a {@link PenaltyBox}. */
export interface PenaltyBoxInit {
  /** Penalties within `windowMs` that ban a peer. */
  threshold: number
  /** How long a penalty counts. */
  windowMs: number
  /** How long a ban lasts. */
  banMs: number
}

/**
 * Counts penalties per peer over a sliding window and bans a peer that reaches the
 * threshold. Pure bookkeeping: the caller hangs up and gates connections.
 */
export class PenaltyBox {
  readonly #init: PenaltyBoxInit
  readonly #now: () => number
  readonly #penalties = new Map<string, number[]>()
  readonly #bannedUntil = new Map<string, number>()

  /** @param now - the clock, injectable for tests */
  constructor(init: PenaltyBoxInit, now: () => number = Date.now) {
    this.#init = init
    this.#now = now
  }

  /** Records one penalty; true when it bans the peer (once per ban). */
  penalise(peer: string): boolean {
    if (this.isBanned(peer)) return false
    const now = this.#now()
    const recent = (this.#penalties.get(peer) ?? []).filter((t) => now - t < this.#init.windowMs)
    recent.push(now)
    if (recent.length >= this.#init.threshold) {
      this.#penalties.delete(peer)
      this.#bannedUntil.set(peer, now + this.#init.banMs)
      return true
    }
    this.#penalties.set(peer, recent)
    return false
  }

  /** True while the peer's ban lasts. */
  isBanned(peer: string): boolean {
    const until = this.#bannedUntil.get(peer)
    if (until == null) return false
    if (this.#now() < until) return true
    this.#bannedUntil.delete(peer)
    return false
  }

  /** Milliseconds left of the peer's ban, 0 when it is not banned. */
  banRemainingMs(peer: string): number {
    return this.isBanned(peer) ? this.#bannedUntil.get(peer)! - this.#now() : 0
  }

  /** How many peers are banned now. */
  bannedCount(): number {
    let n = 0
    for (const peer of [...this.#bannedUntil.keys()]) if (this.isBanned(peer)) n++
    return n
  }

  /** Penalties the peer has within the window. */
  count(peer: string): number {
    const now = this.#now()
    return (this.#penalties.get(peer) ?? []).filter((t) => now - t < this.#init.windowMs).length
  }
}
