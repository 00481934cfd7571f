/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`.
 *
 * @remarks Used per peer for inbound messages and bytes; the clock is injectable for tests.
 */
export class TokenBucket {
  readonly #rate: number
  readonly #burst: number
  readonly #now: () => number
  #tokens: number
  #at: number

  constructor(ratePerSecond: number, burst: number, now: () => number = Date.now) {
    this.#rate = ratePerSecond
    this.#burst = burst
    this.#now = now
    this.#tokens = burst
    this.#at = now()
  }

  /** Takes `n` tokens if the bucket holds them; false (and takes none) otherwise. */
  take(n = 1): boolean {
    const now = this.#now()
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate)
    this.#at = now
    if (this.#tokens < n) return false
    this.#tokens -= n
    return true
  }
}
