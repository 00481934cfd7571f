import type { Logger } from 'pino'

/** Options and hooks of a {@link BootstrapDialer}. */
export interface BootstrapDialerInit {
  /** Bootstrap peers: peer id and the full multiaddr (with `/p2p/`) to dial. */
  peers: Array<{ peer: string; addr: string }>
  /** First re-dial delay; doubles per failed attempt. */
  minBackoffMs: number
  /** Longest re-dial delay. */
  maxBackoffMs: number
  /** Dials one address; rejects on failure. */
  dial: (addr: string, signal: AbortSignal) => Promise<void>
  /** True while the node has a connection to the peer. */
  isConnected: (peer: string) => boolean
  /** Milliseconds the peer stays banned (0 when it is not). */
  banRemainingMs: (peer: string) => number
  log: Logger
  /** Random number in [0, 1), for jitter; injectable for tests. */
  random?: () => number
}

interface Entry {
  peer: string
  addr: string
  attempts: number
  timer: ReturnType<typeof setTimeout> | undefined
  dialing: boolean
  connectedAt: number
}

/**
 * Keeps the node connected to its bootstrap peers: dials each at start and re-dials one
 * whose last connection closed, with exponential backoff and ±20 % jitter, for as long as
 * the node runs.
 *
 * @remarks libp2p's own reconnect queue gives up after a few retries and `@libp2p/bootstrap`
 * dials once, but a lab fleet's bootstrap hosts reboot for hours at a time.
 */
export class BootstrapDialer {
  readonly #init: BootstrapDialerInit
  readonly #entries = new Map<string, Entry>()
  #controller: AbortController | undefined

  constructor(init: BootstrapDialerInit) {
    this.#init = init
  }

  /** Dials every bootstrap peer now. */
  start(): void {
    if (this.#controller != null) return
    this.#controller = new AbortController()
    for (const { peer, addr } of this.#init.peers) {
      const entry: Entry = { peer, addr, attempts: 0, timer: undefined, dialing: false, connectedAt: 0 }
      this.#entries.set(peer, entry)
      this.#schedule(entry, 0)
    }
  }

  /** Cancels every pending dial and timer. */
  stop(): void {
    this.#controller?.abort()
    this.#controller = undefined
    for (const entry of this.#entries.values()) clearTimeout(entry.timer)
    this.#entries.clear()
  }

  /** Call on every first connection to a peer: cancels its pending re-dial. */
  onConnect(peer: string): void {
    const entry = this.#entries.get(peer)
    if (entry == null) return
    entry.connectedAt = Date.now()
    clearTimeout(entry.timer)
    entry.timer = undefined
  }

  /**
   * Call when the last connection to a peer closed: re-dials it if it is a bootstrap peer.
   * The backoff restarts only after a connection that lasted `maxBackoffMs`, so a peer that
   * keeps hanging up at once is not re-dialled every `minBackoffMs`.
   */
  onDisconnect(peer: string): void {
    const entry = this.#entries.get(peer)
    if (entry == null) return
    if (Date.now() - entry.connectedAt >= this.#init.maxBackoffMs) entry.attempts = 0
    const delay = this.#nextDelay(entry)
    entry.attempts++
    this.#schedule(entry, delay)
  }

  #schedule(entry: Entry, delayMs: number): void {
    if (this.#controller == null) return
    clearTimeout(entry.timer)
    entry.timer = setTimeout(() => {
      entry.timer = undefined
      this.#dial(entry).catch((err) => this.#init.log.error({ err }, 'bootstrap dial loop failed'))
    }, delayMs)
  }

  #nextDelay(entry: Entry): number {
    const base = Math.min(this.#init.maxBackoffMs, this.#init.minBackoffMs * 2 ** entry.attempts)
    const jitter = 0.8 + 0.4 * (this.#init.random ?? Math.random)()
    return Math.round(base * jitter)
  }

  async #dial(entry: Entry): Promise<void> {
    const controller = this.#controller
    if (controller == null || entry.dialing || this.#init.isConnected(entry.peer)) return
    const banned = this.#init.banRemainingMs(entry.peer)
    if (banned > 0) {
      this.#schedule(entry, banned)
      return
    }
    entry.dialing = true
    try {
      await this.#init.dial(entry.addr, controller.signal)
    } catch (err) {
      if (controller.signal.aborted) return
      const delay = this.#nextDelay(entry)
      entry.attempts++
      this.#init.log.debug({ err, peer: entry.peer, retryInMs: delay }, 'bootstrap dial failed')
      this.#schedule(entry, delay)
    } finally {
      entry.dialing = false
    }
  }
}
