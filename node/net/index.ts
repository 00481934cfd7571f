export { BootstrapDialer, type BootstrapDialerInit } from './bootstrap-dialer.ts'
export { boundedPreSharedKey, checkSwarmKey, PNET_MAX_WRITE_BYTES } from './bounded-psk.ts'
export { type DirectReceiverInit, receiveDirectStream } from './direct-receiver.ts'
export { FleetNetInitError, FrameError, NotStartedError, SwarmKeyError } from './errors.ts'
export { createFleetLibp2p, type FleetLibp2p, type FleetServices } from './fleet-libp2p.ts'
export {
  FleetNet,
  type FleetNetEvents,
  type FleetNetStats,
  type GossipValidator,
  type GossipVerdict,
} from './fleet-net.ts'
export {
  bootstrapPeers,
  checkFleetNetInit,
  DEFAULT_FLEET_NET_INIT,
  type FleetNetInit,
  type ResolvedFleetNetInit,
  resolveFleetNetInit,
} from './fleet-net-init.ts'
export { encodeFrameHeader, FrameDecoder, varintLength } from './frame-decoder.ts'
export { PeerSender, type PeerSenderInit } from './peer-sender.ts'
export { PenaltyBox, type PenaltyBoxInit } from './penalty-box.ts'
export { TokenBucket } from './token-bucket.ts'
