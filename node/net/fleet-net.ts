import { type GossipsubMessage, type Message, TopicValidatorResult } from '@libp2p/gossipsub'
import type { Connection, PeerId, PeerInfo, Stream } from '@libp2p/interface'
import { TypedEventEmitter } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import { BootstrapDialer } from './bootstrap-dialer.ts'
import { receiveDirectStream } from './direct-receiver.ts'
import { NotStartedError } from './errors.ts'
import { createFleetLibp2p, type FleetLibp2p } from './fleet-libp2p.ts'
import {
  bootstrapPeers,
  checkFleetNetInit,
  type FleetNetInit,
  type ResolvedFleetNetInit,
  resolveFleetNetInit,
} from './fleet-net-init.ts'
import { PeerSender } from './peer-sender.ts'
import { PenaltyBox } from './penalty-box.ts'
import { captureStopLeftovers } from './stop-leftovers.ts'
import { TokenBucket } from './token-bucket.ts'

/** What the gossip validator decides about a message. */
export type GossipVerdict = 'accept' | 'reject' | 'ignore'

/**
 * Decides about one gossip message before it is delivered or forwarded.
 *
 * @param from - the peer that signed (published) it
 * @param via - the peer it arrived from (the one penalised on reject)
 * @remarks Synchronous and fast: it runs inside gossipsub's receive path.
 */
export type GossipValidator = (from: string, bytes: Uint8Array, via: string) => GossipVerdict

/** Counters of a {@link FleetNet} since it was constructed. */
export interface FleetNetStats {
  /** Gossip messages delivered (validator accepted). */
  gossipIn: number
  /** Gossip messages published (to at least one peer). */
  gossipOut: number
  /** Direct messages delivered. */
  messagesIn: number
  /**
   * Direct messages handed to a stream. Delivery is not acknowledged: what sits in a stream's
   * buffers when its connection dies is lost without a count (the core resyncs on reconnect).
   */
  messagesOut: number
  /** Payload bytes delivered (gossip and direct; no framing or wire overhead). */
  bytesIn: number
  /** Payload bytes sent (gossip and direct). */
  bytesOut: number
  /** Inbound messages or frames refused: validator rejects, oversized or malformed frames. */
  rejected: number
  /** Outbound direct messages lost (queue full, too big, peer unreachable, stream error), or inbound over the rate limit. */
  dropped: number
  /** Publishes that failed (no subscribed peers, too big, not started). */
  publishFailed: number
  /** Inbound messages over a peer's rate limit (also in `dropped` for direct ones). */
  rateLimited: number
  /** Penalties given. */
  penalised: number
  /** Bans given. */
  bans: number
  /** Peers banned now. */
  banned: number
  /** Peers connected now. */
  connected: number
  /** Direct-message bytes queued now. */
  queuedBytes: number
}

/** Events of a {@link FleetNet}. Listeners must not throw. */
export interface FleetNetEvents {
  /** A gossip message the validator accepted. */
  gossip: CustomEvent<{ from: string; via: string; bytes: Uint8Array }>
  /** A direct message. */
  message: CustomEvent<{ from: string; bytes: Uint8Array }>
  /** The first connection to a peer opened. */
  'peer:connect': CustomEvent<{ peer: string }>
  /** The last connection to a peer closed. */
  'peer:disconnect': CustomEvent<{ peer: string }>
}

/**
 * After a failed dial of a discovered peer, its discovery answers are ignored this long.
 * @remarks mDNS answers of one peer arrive several times per 10 s query round; a peer that
 * answers but cannot be reached (another swarm key, a one-way partition) is dialled at most
 * once a round, not on every answer.
 */
const DISCOVERY_REDIAL_MS = 10_000

interface InboundLimits {
  messages: TokenBucket
  bytes: TokenBucket
  lastPenaltyAt: number
}

/**
 * The fleet's libp2p network layer: a private network (pnet) host over TCP, Noise and Yamux
 * that moves the peer core's opaque messages by gossip (one topic) and by a direct
 * length-prefixed stream protocol, enforces size and rate limits at the edge, penalises and
 * bans misbehaving peers, and reports who is connected.
 *
 * @remarks
 * `peer:connect` fires on the first connection to a peer and `peer:disconnect` when its last
 * one closes (the core resets its sync state on each connect). No events fire once `stop()`
 * has begun. Nothing here throws at the caller after `start()`: failures are counted in
 * {@link FleetNet.stats} and logged.
 */
export class FleetNet extends TypedEventEmitter<FleetNetEvents> {
  readonly #log: Logger
  readonly #init: ResolvedFleetNetInit
  readonly #topic: string
  readonly #protocol: string
  readonly #penalties: PenaltyBox
  readonly #senders = new Map<string, PeerSender>()
  readonly #inbound = new Map<string, InboundLimits>()
  /** Peers a discovery dial is under way to (mDNS answers arrive several times a query round). */
  readonly #discoveryDials = new Set<string>()
  /** When a discovery dial of a peer last failed (ms), for {@link DISCOVERY_REDIAL_MS}. */
  readonly #discoveryFailedAt = new Map<string, number>()
  readonly #counters = {
    gossipIn: 0,
    gossipOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    rejected: 0,
    dropped: 0,
    publishFailed: 0,
    rateLimited: 0,
    penalised: 0,
    bans: 0,
  }
  #validator: GossipValidator = () => 'accept'
  #peerId: string | undefined
  #node: FleetLibp2p | undefined
  #controller: AbortController | undefined
  #bootstrap: BootstrapDialer | undefined
  #running = false
  #transition: Promise<void> = Promise.resolve()

  constructor(components: { logger: Logger }, init: FleetNetInit) {
    super()
    this.#log = components.logger.child({ ns: 'node:net' })
    this.#init = resolveFleetNetInit(init)
    this.#topic = `/cis490/${init.fleet}/table/1`
    this.#protocol = `/cis490/${init.fleet}/sync/1.0.0`
    this.#penalties = new PenaltyBox({
      threshold: this.#init.penaltyThreshold,
      windowMs: this.#init.penaltyWindowMs,
      banMs: this.#init.banMs,
    })
  }

  /** The gossip topic. */
  get topic(): string {
    return this.#topic
  }

  /** The direct-message protocol id. */
  get protocol(): string {
    return this.#protocol
  }

  /** This peer's id (known before start: it derives from the private key). */
  get peerId(): string {
    this.#peerId ??= peerIdFromPrivateKey(this.#init.privateKey).toString()
    return this.#peerId
  }

  /**
   * The libp2p host, for composing more protocols on it (e.g. bitswap).
   *
   * @throws {@link NotStartedError} before start or after stop.
   */
  get libp2p(): FleetLibp2p {
    if (this.#node == null) throw new NotStartedError()
    return this.#node
  }

  /**
   * Creates and starts the libp2p host; idempotent. A failed start stops what it began.
   *
   * @throws {@link SwarmKeyError} without a valid swarm key, {@link FleetNetInitError} for a bad option.
   */
  start(): Promise<void> {
    const next = this.#transition.then(() => this.#start())
    this.#transition = next.catch(() => {})
    return next
  }

  /** Stops the host, cancels re-dials and drops queued messages; idempotent, safe before start. */
  stop(): Promise<void> {
    const next = this.#transition.then(() => this.#stop())
    this.#transition = next.catch(() => {})
    return next
  }

  /** Full multiaddrs (with `/p2p/<id>`) the node listens on. */
  addresses(): string[] {
    if (this.#node == null) return []
    const suffix = `/p2p/${this.#node.peerId.toString()}`
    return this.#node.getMultiaddrs().map((ma) => {
      const text = ma.toString()
      return text.endsWith(suffix) ? text : text + suffix
    })
  }

  /** Ids of the peers connected now. */
  connectedPeers(): string[] {
    return this.#node?.getPeers().map((p) => p.toString()) ?? []
  }

  /** Sets the function that decides about every inbound gossip message (default: accept all). */
  setGossipValidator(fn: GossipValidator): void {
    this.#validator = fn
  }

  /** Gossips a message on the fleet topic (signed, StrictSign). Never throws: failures count in `publishFailed`. */
  publish(bytes: Uint8Array): void {
    const node = this.#node
    if (node == null || !this.#running) {
      this.#counters.publishFailed++
      this.#log.debug('publish before start')
      return
    }
    if (bytes.byteLength === 0 || bytes.byteLength > this.#init.maxMessageBytes) {
      this.#counters.publishFailed++
      this.#log.warn({ bytes: bytes.byteLength }, 'publish: message empty or over maxMessageBytes')
      return
    }
    node.services.pubsub.publish(this.#topic, bytes).then(
      () => {
        this.#counters.gossipOut++
        this.#counters.bytesOut += bytes.byteLength
      },
      (err: unknown) => {
        this.#counters.publishFailed++
        this.#log.debug({ err }, 'publish failed')
      },
    )
  }

  /**
   * Sends one message to one peer over the direct protocol, in order with the earlier ones.
   * Never throws: a full queue, an oversized or empty message or an unreachable peer counts
   * in `dropped`.
   */
  send(peer: string, bytes: Uint8Array): void {
    const node = this.#node
    const controller = this.#controller
    if (node == null || controller == null || !this.#running) {
      this.#drop(1, 'send before start')
      return
    }
    if (bytes.byteLength === 0 || bytes.byteLength > this.#init.maxMessageBytes) {
      this.#drop(1, 'message empty or over maxMessageBytes')
      return
    }
    let sender = this.#senders.get(peer)
    if (sender == null) {
      let peerId: PeerId
      try {
        peerId = peerIdFromString(peer)
      } catch {
        this.#drop(1, 'not a peer id')
        return
      }
      if (peer === this.peerId || this.#penalties.isBanned(peer)) {
        this.#drop(1, 'peer is self or banned')
        return
      }
      const log = this.#log.child({ peer })
      sender = new PeerSender({
        open: (signal) => node.dialProtocol(peerId, this.#protocol, { signal }),
        maxQueuedMessages: this.#init.maxQueuedMessagesPerPeer,
        maxQueuedBytes: this.#init.maxQueuedBytesPerPeer,
        sendTimeoutMs: this.#init.sendTimeoutMs,
        signal: controller.signal,
        log,
        onSent: (n) => {
          this.#counters.messagesOut++
          this.#counters.bytesOut += n
        },
        onDropped: (count, reason) => this.#drop(count, reason, peer),
      })
      this.#senders.set(peer, sender)
    }
    sender.enqueue(bytes)
  }

  /**
   * Records misbehaviour of a peer; at `penaltyThreshold` penalties within `penaltyWindowMs`
   * the peer is hung up on and refused (dials both ways) for `banMs`.
   */
  penalise(peer: string, reason: string): void {
    this.#counters.penalised++
    this.#log.warn({ peer, reason }, 'peer penalised')
    if (!this.#penalties.penalise(peer)) return
    this.#counters.bans++
    this.#log.warn({ peer, banMs: this.#init.banMs }, 'peer banned')
    this.#senders.get(peer)?.close()
    this.#senders.delete(peer)
    const node = this.#node
    if (node == null) return
    let peerId: PeerId
    try {
      peerId = peerIdFromString(peer)
    } catch {
      return
    }
    node.hangUp(peerId).catch((err: unknown) => this.#log.debug({ err, peer }, 'hang up failed'))
  }

  /** Counters since construction, plus the current connection, ban and queue sizes. */
  stats(): FleetNetStats {
    let queuedBytes = 0
    for (const sender of this.#senders.values()) queuedBytes += sender.queuedBytes
    return {
      ...this.#counters,
      banned: this.#penalties.bannedCount(),
      connected: this.#node?.getPeers().length ?? 0,
      queuedBytes,
    }
  }

  #drop(count: number, reason: string, peer?: string): void {
    this.#counters.dropped += count
    this.#log.debug({ count, reason, peer }, 'messages dropped')
  }

  async #start(): Promise<void> {
    if (this.#node != null) return
    checkFleetNetInit(this.#init)
    const init = this.#init
    const controller = new AbortController()
    let node: FleetLibp2p | undefined
    try {
      node = await createFleetLibp2p(
        init,
        this.#topic,
        (peer) => this.#penalties.isBanned(peer),
        (info) => this.#onDiscovery(info),
      )
      this.#node = node
      this.#controller = controller
      await node.handle(this.#protocol, (stream, connection) => this.#onInboundStream(stream, connection), {
        maxInboundStreams: init.maxSyncStreamsPerConnection,
        maxOutboundStreams: init.maxSyncStreamsPerConnection,
      })
      const pubsub = node.services.pubsub
      pubsub.topicValidators.set(this.#topic, (peerId, msg) => this.#validateGossip(peerId, msg))
      pubsub.addEventListener('gossipsub:message', (evt) => this.#onGossip(evt.detail))
      node.addEventListener('peer:connect', (evt) => this.#onPeerConnect(evt.detail))
      node.addEventListener('peer:disconnect', (evt) => this.#onPeerDisconnect(evt.detail))
      node.addEventListener('peer:discovery', (evt) => this.#onDiscovery(evt.detail))
      this.#running = true
      await node.start()
      pubsub.subscribe(this.#topic)
      this.#bootstrap = new BootstrapDialer({
        peers: bootstrapPeers(init.bootstrap, this.peerId),
        minBackoffMs: init.redialMinMs,
        maxBackoffMs: init.redialMaxMs,
        dial: async (addr, signal) => {
          await node!.dial(multiaddr(addr), { signal })
        },
        isConnected: (peer) => node!.getConnections(peerIdFromString(peer)).length > 0,
        banRemainingMs: (peer) => this.#penalties.banRemainingMs(peer),
        log: this.#log.child({ part: 'bootstrap' }),
      })
      this.#bootstrap.start()
      this.#log.info({ peer: node.peerId.toString(), addresses: this.addresses() }, 'network started')
    } catch (err) {
      this.#running = false
      controller.abort()
      this.#bootstrap?.stop()
      this.#bootstrap = undefined
      this.#node = undefined
      this.#controller = undefined
      try {
        await node?.stop()
      } catch (stopErr) {
        this.#log.error({ err: stopErr }, 'stop after a failed start failed')
      }
      throw err
    }
  }

  async #stop(): Promise<void> {
    const node = this.#node
    if (node == null) return
    this.#running = false
    this.#controller?.abort()
    this.#bootstrap?.stop()
    this.#bootstrap = undefined
    for (const sender of this.#senders.values()) sender.close()
    this.#senders.clear()
    this.#inbound.clear()
    const clearLeftovers = captureStopLeftovers(node)
    try {
      await node.stop()
      clearLeftovers()
    } finally {
      this.#node = undefined
      this.#controller = undefined
      this.#log.info('network stopped')
    }
  }

  #onPeerConnect(peerId: PeerId): void {
    if (!this.#running) return
    const peer = peerId.toString()
    this.#bootstrap?.onConnect(peer)
    this.#log.debug({ peer }, 'peer connected')
    this.safeDispatchEvent('peer:connect', { detail: { peer } })
  }

  #onPeerDisconnect(peerId: PeerId): void {
    if (!this.#running) return
    const peer = peerId.toString()
    this.#senders.get(peer)?.close()
    this.#senders.delete(peer)
    this.#inbound.delete(peer)
    this.#bootstrap?.onDisconnect(peer)
    this.#log.debug({ peer }, 'peer disconnected')
    this.safeDispatchEvent('peer:disconnect', { detail: { peer } })
  }

  #onDiscovery(info: PeerInfo): void {
    const node = this.#node
    const controller = this.#controller
    if (node == null || controller == null || !this.#running) return
    const peer = info.id.toString()
    if (peer === this.peerId || this.#penalties.isBanned(peer) || node.getConnections(info.id).length > 0) return
    const now = Date.now()
    if (this.#discoveryDials.has(peer) || now - (this.#discoveryFailedAt.get(peer) ?? -Infinity) < DISCOVERY_REDIAL_MS)
      return
    this.#discoveryDials.add(peer)
    const dial = async () => {
      // mDNS's own answer events can come before libp2p has stored the addresses they carry.
      if (info.multiaddrs.length > 0) await node.peerStore.merge(info.id, { multiaddrs: info.multiaddrs })
      await node.dial(info.id, { signal: controller.signal })
    }
    dial()
      .then(
        () => this.#discoveryFailedAt.delete(peer),
        (err: unknown) => {
          for (const [p, at] of this.#discoveryFailedAt)
            if (now - at >= DISCOVERY_REDIAL_MS) this.#discoveryFailedAt.delete(p)
          this.#discoveryFailedAt.set(peer, Date.now())
          this.#log.debug({ err, peer }, 'dial of a discovered peer failed')
        },
      )
      .finally(() => this.#discoveryDials.delete(peer))
  }

  /** True when the peer may deliver one more message of `bytes` now. */
  #allowInbound(peer: string, bytes: number): boolean {
    let limits = this.#inbound.get(peer)
    if (limits == null) {
      limits = {
        messages: new TokenBucket(this.#init.inboundMessagesPerSecond, this.#init.inboundMessageBurst),
        bytes: new TokenBucket(this.#init.inboundBytesPerSecond, this.#init.inboundByteBurst),
        lastPenaltyAt: 0,
      }
      this.#inbound.set(peer, limits)
    }
    if (limits.messages.take() && limits.bytes.take(bytes)) return true
    this.#counters.rateLimited++
    return false
  }

  #validateGossip(peerId: PeerId, msg: Message): TopicValidatorResult {
    const via = peerId.toString()
    try {
      if (msg.data.byteLength > this.#init.maxMessageBytes) {
        this.#counters.rejected++
        this.penalise(via, 'gossip message over maxMessageBytes')
        return TopicValidatorResult.Reject
      }
      if (!this.#allowInbound(via, msg.data.byteLength)) return TopicValidatorResult.Ignore
      const from = msg.type === 'signed' ? msg.from.toString() : via
      const verdict = this.#validator(from, msg.data, via)
      if (verdict === 'accept') return TopicValidatorResult.Accept
      if (verdict === 'ignore') return TopicValidatorResult.Ignore
      this.#counters.rejected++
      this.penalise(via, 'gossip rejected by the validator')
      return TopicValidatorResult.Reject
    } catch (err) {
      this.#log.error({ err, peer: via }, 'gossip validator threw; message ignored')
      return TopicValidatorResult.Ignore
    }
  }

  #onGossip(detail: GossipsubMessage): void {
    if (!this.#running || detail.msg.topic !== this.#topic) return
    const { msg } = detail
    const via = detail.propagationSource.toString()
    const from = msg.type === 'signed' ? msg.from.toString() : via
    this.#counters.gossipIn++
    this.#counters.bytesIn += msg.data.byteLength
    this.safeDispatchEvent('gossip', { detail: { from, via, bytes: msg.data } })
  }

  #onInboundStream(stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer.toString()
    if (!this.#running || this.#penalties.isBanned(peer)) {
      stream.abort(new Error('peer refused'))
      return
    }
    receiveDirectStream(stream, {
      maxFrameBytes: this.#init.maxMessageBytes,
      log: this.#log.child({ peer }),
      onViolation: (reason) => {
        this.#counters.rejected++
        this.penalise(peer, reason)
      },
      onFrame: (frame) => this.#onDirectMessage(peer, frame),
    })
  }

  #onDirectMessage(peer: string, frame: Uint8Array): void {
    if (!this.#running) return
    if (!this.#allowInbound(peer, frame.byteLength)) {
      this.#counters.dropped++
      const limits = this.#inbound.get(peer)
      const now = Date.now()
      if (limits != null && now - limits.lastPenaltyAt >= 1000) {
        limits.lastPenaltyAt = now
        this.penalise(peer, 'direct messages over the rate limit')
      }
      return
    }
    this.#counters.messagesIn++
    this.#counters.bytesIn += frame.byteLength
    this.safeDispatchEvent('message', { detail: { from: peer, bytes: frame } })
  }
}
