import type { Ed25519PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { checkSwarmKey } from './bounded-psk.ts'
import { FleetNetInitError } from './errors.ts'

/** Options of a {@link FleetNet}; the optional ones default to {@link DEFAULT_FLEET_NET_INIT}. */
export interface FleetNetInit {
  /** The peer key (persisted by the caller); the peer id derives from it. */
  privateKey: Ed25519PrivateKey
  /** The swarm.key file bytes (`/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex digits). */
  swarmKey: Uint8Array
  /** Fleet name: topic `/cis490/<fleet>/table/1`, protocol `/cis490/<fleet>/sync/1.0.0`. */
  fleet: string
  /** Listen multiaddrs. @defaultValue `['/ip4/0.0.0.0/tcp/4490']` */
  listen?: string[]
  /** Bootstrap peers as full multiaddrs with `/p2p/<id>`: dialled at start, re-dialled when lost. @defaultValue `[]` */
  bootstrap?: string[]
  /** Discover LAN peers by mDNS and dial them. @defaultValue `true` */
  mdns?: boolean
  /** Largest message, gossip or direct. @defaultValue 4 MiB */
  maxMessageBytes?: number
  /** Most open connections. @defaultValue 64 */
  maxConnections?: number
  /** Dial timeout. @defaultValue 10 s */
  dialTimeoutMs?: number
  /** Ping interval of the connection monitor (a peer that stops answering is hung up). @defaultValue 10 s */
  pingIntervalMs?: number
  /**
   * Shortest time a ping may take before the connection is hung up (it adapts upwards to the
   * measured round trips). @defaultValue 20 s
   * @remarks libp2p's 5 s minimum hung up saturated connections on busy hosts: a ping queues
   * behind the megabytes already in flight.
   */
  pingTimeoutMs?: number
  /**
   * Largest yamux receive window per stream. @defaultValue 4 MiB
   * @remarks Bounds the data in flight ahead of pings and control frames (yamux's default is
   * 16 MiB); 4 MiB is far above a LAN's bandwidth-delay product.
   */
  streamWindowBytes?: number
  /** Inbound direct-message streams per connection. @defaultValue 2 */
  maxSyncStreamsPerConnection?: number
  /** Inbound (and outbound) streams per connection over all protocols, at the muxer. @defaultValue 256 */
  maxStreamsPerConnection?: number
  /** Direct messages waiting per peer; more are dropped and counted. @defaultValue 1024 */
  maxQueuedMessagesPerPeer?: number
  /** Direct-message bytes waiting per peer; more are dropped and counted. @defaultValue 64 MiB */
  maxQueuedBytesPerPeer?: number
  /** How long opening the direct stream, or one write waiting to drain, may take. @defaultValue 30 s */
  sendTimeoutMs?: number
  /** Inbound messages (gossip and direct) per second per peer. @defaultValue 1000 */
  inboundMessagesPerSecond?: number
  /** Inbound message burst per peer. @defaultValue 2000 */
  inboundMessageBurst?: number
  /** Inbound message bytes per second per peer. @defaultValue 64 MiB */
  inboundBytesPerSecond?: number
  /** Inbound byte burst per peer; at least `maxMessageBytes`. @defaultValue 128 MiB */
  inboundByteBurst?: number
  /** Penalties within `penaltyWindowMs` that ban a peer. @defaultValue 10 */
  penaltyThreshold?: number
  /** How long a penalty counts. @defaultValue 60 s */
  penaltyWindowMs?: number
  /** How long a banned peer is hung up on and refused. @defaultValue 5 min */
  banMs?: number
  /** First bootstrap re-dial delay, doubling per failure. @defaultValue 1 s */
  redialMinMs?: number
  /** Longest bootstrap re-dial delay. @defaultValue 30 s */
  redialMaxMs?: number
}

/** A {@link FleetNetInit} with every default filled in. */
export type ResolvedFleetNetInit = Required<FleetNetInit>

/** The defaults of every optional {@link FleetNetInit} field. */
export const DEFAULT_FLEET_NET_INIT: Readonly<Omit<ResolvedFleetNetInit, 'privateKey' | 'swarmKey' | 'fleet'>> =
  Object.freeze({
    listen: ['/ip4/0.0.0.0/tcp/4490'],
    bootstrap: [],
    mdns: true,
    maxMessageBytes: 4 * 1024 * 1024,
    maxConnections: 64,
    dialTimeoutMs: 10_000,
    pingIntervalMs: 10_000,
    pingTimeoutMs: 20_000,
    streamWindowBytes: 4 * 1024 * 1024,
    maxSyncStreamsPerConnection: 2,
    maxStreamsPerConnection: 256,
    maxQueuedMessagesPerPeer: 1024,
    maxQueuedBytesPerPeer: 64 * 1024 * 1024,
    sendTimeoutMs: 30_000,
    inboundMessagesPerSecond: 1000,
    inboundMessageBurst: 2000,
    inboundBytesPerSecond: 64 * 1024 * 1024,
    inboundByteBurst: 128 * 1024 * 1024,
    penaltyThreshold: 10,
    penaltyWindowMs: 60_000,
    banMs: 5 * 60_000,
    redialMinMs: 1000,
    redialMaxMs: 30_000,
  })

/** Fills the defaults in (fields given as `undefined` take the default too). */
export function resolveFleetNetInit(init: FleetNetInit): ResolvedFleetNetInit {
  const given = Object.fromEntries(Object.entries(init).filter(([, v]) => v !== undefined))
  return { ...DEFAULT_FLEET_NET_INIT, ...given } as ResolvedFleetNetInit
}

const FLEET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/

/**
 * Checks every option before anything opens.
 *
 * @throws {@link SwarmKeyError} for a missing or malformed swarm key, {@link FleetNetInitError} naming the field otherwise.
 */
export function checkFleetNetInit(init: ResolvedFleetNetInit): void {
  checkSwarmKey(init.swarmKey)
  if (init.privateKey?.type !== 'Ed25519') throw new FleetNetInitError('privateKey: expected an Ed25519 private key')
  if (typeof init.fleet !== 'string' || !FLEET_NAME.test(init.fleet)) {
    throw new FleetNetInitError(
      `fleet: expected 1-63 letters, digits, '.', '_' or '-' (starting with a letter or digit), got ${JSON.stringify(init.fleet)}`,
    )
  }
  const positive: Array<keyof ResolvedFleetNetInit> = [
    'maxMessageBytes',
    'maxConnections',
    'dialTimeoutMs',
    'pingIntervalMs',
    'pingTimeoutMs',
    'streamWindowBytes',
    'maxSyncStreamsPerConnection',
    'maxStreamsPerConnection',
    'maxQueuedMessagesPerPeer',
    'maxQueuedBytesPerPeer',
    'sendTimeoutMs',
    'inboundMessagesPerSecond',
    'inboundMessageBurst',
    'inboundBytesPerSecond',
    'inboundByteBurst',
    'penaltyThreshold',
    'penaltyWindowMs',
    'banMs',
    'redialMinMs',
    'redialMaxMs',
  ]
  for (const key of positive) {
    const value = init[key]
    if (typeof value !== 'number' || !(value > 0)) {
      throw new FleetNetInitError(`${key}: expected a positive number, got ${String(value)}`)
    }
  }
  if (init.streamWindowBytes < 256 * 1024) {
    throw new FleetNetInitError('streamWindowBytes: must be at least 256 KiB (yamux initial window)')
  }
  if (init.inboundByteBurst < init.maxMessageBytes) {
    throw new FleetNetInitError('inboundByteBurst: must be at least maxMessageBytes, or no message that large gets in')
  }
  if (init.maxQueuedBytesPerPeer < init.maxMessageBytes) {
    throw new FleetNetInitError('maxQueuedBytesPerPeer: must be at least maxMessageBytes')
  }
  for (const addr of init.listen) {
    try {
      multiaddr(addr)
    } catch {
      throw new FleetNetInitError(`listen: not a multiaddr: ${JSON.stringify(addr)}`)
    }
  }
  bootstrapPeers(init.bootstrap, '')
}

/**
 * The bootstrap list as peer id and address, without this node itself.
 *
 * @throws {@link FleetNetInitError} for an address without `/p2p/<peer id>`.
 */
export function bootstrapPeers(bootstrap: readonly string[], self: string): Array<{ peer: string; addr: string }> {
  const peers: Array<{ peer: string; addr: string }> = []
  for (const addr of bootstrap) {
    let peer: string | undefined
    try {
      peer = multiaddr(addr)
        .getComponents()
        .findLast((c) => c.name === 'p2p')?.value
    } catch {
      peer = undefined
    }
    if (peer == null) {
      throw new FleetNetInitError(
        `bootstrap: expected a multiaddr ending in /p2p/<peer id>, got ${JSON.stringify(addr)}`,
      )
    }
    if (peer !== self) peers.push({ peer, addr })
  }
  return peers
}
