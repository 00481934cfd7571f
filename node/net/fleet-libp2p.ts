import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type GossipSub, gossipsub } from '@libp2p/gossipsub'
import { type Identify, type IdentifyPush, identify, identifyPush } from '@libp2p/identify'
import type { Libp2p, PeerInfo } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { boundedPreSharedKey } from './bounded-psk.ts'
import type { ResolvedFleetNetInit } from './fleet-net-init.ts'

/** The libp2p services a fleet node runs. */
export type FleetServices = {
  identify: Identify
  identifyPush: IdentifyPush
  ping: Ping
  pubsub: GossipSub
}

/** The libp2p host under a {@link FleetNet}. */
export type FleetLibp2p = Libp2p<FleetServices>

/** Room for a gossipsub RPC's envelope (signature, key, seqno, topic, control) around one message. */
const GOSSIP_RPC_OVERHEAD = 64 * 1024
/** How long identify-push gathers protocol changes before it tells peers. */
const PUSH_DEBOUNCE_MS = 50

/**
 * Creates (unstarted) the libp2p host of a fleet node: TCP, pnet with bounded cipher writes,
 * Noise, Yamux, identify and identify-push, ping, gossipsub with StrictSign and scoring on the fleet topic, and
 * mDNS when enabled. `isBanned` gates dials and connections both ways; `onLanPeer` hears
 * every mDNS answer (see {@link mdnsEveryAnswer}).
 */
export function createFleetLibp2p(
  init: ResolvedFleetNetInit,
  topic: string,
  isBanned: (peer: string) => boolean,
  onLanPeer: (peer: PeerInfo) => void = () => {},
): Promise<FleetLibp2p> {
  return createLibp2p<FleetServices>({
    start: false,
    privateKey: init.privateKey,
    addresses: { listen: [...init.listen] },
    transports: [tcp()],
    connectionProtector: boundedPreSharedKey(init.swarmKey),
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        maxInboundStreams: init.maxStreamsPerConnection,
        maxOutboundStreams: init.maxStreamsPerConnection,
        streamOptions: { maxStreamWindowSize: init.streamWindowBytes },
      }),
    ],
    connectionGater: {
      denyDialPeer: (peerId) => isBanned(peerId.toString()),
      denyInboundEncryptedConnection: (peerId) => isBanned(peerId.toString()),
      denyOutboundEncryptedConnection: (peerId) => isBanned(peerId.toString()),
    },
    connectionManager: { maxConnections: init.maxConnections, dialTimeout: init.dialTimeoutMs },
    connectionMonitor: {
      pingInterval: init.pingIntervalMs,
      pingTimeout: { minTimeout: init.pingTimeoutMs, maxTimeout: Math.max(60_000, init.pingTimeoutMs) },
    },
    peerDiscovery: init.mdns ? [mdnsEveryAnswer(mdnsServiceTag(init.fleet), onLanPeer)] : [],
    services: {
      identify: identify(),
      // Tells connected peers when this host's protocols change: bitswap registers after the
      // bootstrap dials, and without a push those peers never learn it runs here. A short
      // debounce: its timer is not cleared on stop (@libp2p/identify 4) and, at the default
      // 1 s, kept a stopped node's process alive for a second.
      identifyPush: identifyPush({ debounce: PUSH_DEBOUNCE_MS }),
      ping: ping(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictSign',
        fallbackToFloodsub: false,
        allowPublishToZeroTopicPeers: false,
        emitSelf: false,
        allowedTopics: [topic],
        maxInboundDataLength: init.maxMessageBytes + GOSSIP_RPC_OVERHEAD,
        scoreParams: {
          topics: {
            [topic]: {
              topicWeight: 1,
              timeInMeshWeight: 0.01,
              timeInMeshQuantum: 1000,
              timeInMeshCap: 300,
              firstMessageDeliveriesWeight: 0.5,
              firstMessageDeliveriesDecay: 0.9,
              firstMessageDeliveriesCap: 20,
              // a job table is quiet for minutes: never punish a mesh peer for sending little
              meshMessageDeliveriesWeight: 0,
              meshMessageDeliveriesDecay: 0.5,
              meshMessageDeliveriesCap: 100,
              meshMessageDeliveriesThreshold: 1,
              meshMessageDeliveriesWindow: 10,
              meshMessageDeliveriesActivation: 5000,
              meshFailurePenaltyWeight: 0,
              meshFailurePenaltyDecay: 0.5,
              // each reject costs its square: three within a few seconds sink a peer below graylist
              invalidMessageDeliveriesWeight: -10,
              invalidMessageDeliveriesDecay: 0.9,
            },
          },
        },
      }),
    },
  })
}

/**
 * mDNS discovery that also hands every answer it hears to `onPeer`, not only a peer's first.
 *
 * @remarks libp2p 3 turns a discovery's `peer` events into `peer:discovery` only for peers
 * new to its peer store. On a LAN without a bootstrap list, a peer met once and then lost
 * (a partition that outlived the connection, a cable pulled and plugged back) would never
 * be dialled again: both sides keep answering each other's queries and nobody dials.
 */
function mdnsEveryAnswer(serviceTag: string, onPeer: (peer: PeerInfo) => void) {
  const factory = mdns({ serviceTag })
  return (components: Parameters<typeof factory>[0]) => {
    const discovery = factory(components)
    discovery.addEventListener('peer', (evt) => onPeer(evt.detail))
    return discovery
  }
}

/** The fleet's own mDNS service name, so that other libp2p hosts on the LAN are not dialled. */
function mdnsServiceTag(fleet: string): string {
  return `_cis490-${fleet.toLowerCase().replace(/[^a-z0-9-]/g, '-')}._udp.local`
}
