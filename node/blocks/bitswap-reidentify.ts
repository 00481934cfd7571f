import type { Connection, IdentifyResult, Libp2p } from '@libp2p/interface'
import type { Logger } from 'pino'

/** The prefix of every bitswap protocol id (`/ipfs/bitswap/1.2.0` ...). */
const BITSWAP_PREFIX = '/ipfs/bitswap/'

/** Identifies asked again of one peer whose answers lack bitswap, 1 s, 2 s, 4 s ... apart. */
const MAX_TRIES = 4

/**
 * Asks a peer to identify itself again when its identify answer did not list bitswap, so that
 * bitswap learns of peers that started it after they connected.
 *
 * @remarks A node connects to its bootstrap peers as its network starts and registers bitswap
 * on the same host a moment later; the fleet's hosts run no identify-push, so a peer that
 * identified it in between believes it has no bitswap, and its bitswap never sends it a want.
 * Seen after a restart: a peer that came back (same peer id) was never asked for the blocks
 * it held, by a fresh fetch or an old one. Another identify, once bitswap runs there, makes
 * the registrar tell bitswap of the peer (`peer:identify`). Peers that never run bitswap are
 * asked {@link MAX_TRIES} times and then left alone.
 */
export class BitswapReidentifier {
  readonly #libp2p: Libp2p
  readonly #log: Logger
  readonly #tries = new Map<string, number>()
  readonly #timers = new Set<NodeJS.Timeout>()
  #running = false

  constructor(components: { libp2p: Libp2p; logger: Logger }) {
    this.#libp2p = components.libp2p
    this.#log = components.logger
  }

  /** Listens to identify answers, and checks the peers already connected. */
  start(): void {
    if (this.#running) return
    this.#running = true
    this.#libp2p.addEventListener('peer:identify', this.#onIdentify)
    for (const connection of this.#libp2p.getConnections()) {
      void this.#libp2p.peerStore
        .get(connection.remotePeer)
        .then((peer) => this.#check(connection, peer.protocols))
        .catch(() => this.#check(connection, []))
    }
  }

  /** Stops listening and cancels the identifies scheduled; idempotent. */
  stop(): void {
    this.#running = false
    this.#libp2p.removeEventListener('peer:identify', this.#onIdentify)
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    this.#tries.clear()
  }

  readonly #onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    this.#check(evt.detail.connection, evt.detail.protocols)
  }

  #check(connection: Connection, protocols: readonly string[]): void {
    const peer = connection.remotePeer.toString()
    if (!this.#running) return
    if (protocols.some((p) => p.startsWith(BITSWAP_PREFIX))) {
      this.#tries.delete(peer)
      return
    }
    const tries = this.#tries.get(peer) ?? 0
    if (tries >= MAX_TRIES) return
    this.#tries.set(peer, tries + 1)
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer)
        if (!this.#running || connection.status !== 'open') return
        const identify = (this.#libp2p.services as { identify?: { identify(c: Connection): Promise<unknown> } })
          .identify
        identify
          ?.identify(connection)
          .catch((err: unknown) => this.#log.debug({ err, peer }, 'identify asked again failed'))
      },
      1000 * 2 ** tries,
    )
    timer.unref()
    this.#timers.add(timer)
  }
}
