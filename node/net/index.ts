export { BootstrapDialer, type BootstrapDialerInit } from './bootstrap-dialer.ts'
export { boundedPreSharedKey, checkSwarmKey, PNET_MAX_WRITE_BYTES } from './bounded-psk.ts'
export { FleetNetInitError, FrameError, NotStartedError, SwarmKeyError } from './errors.ts'
export {
  DEFAULT_FLEET_NET_INIT,
  type FleetLibp2p,
  FleetNet,
  type FleetNetEvents,
  type FleetNetInit,
  type FleetNetStats,
  type FleetServices,
  type GossipValidator,
  type GossipVerdict,
} from './fleet-net.ts'
export { encodeFrameHeader, FrameDecoder, varintLength } from './frame-decoder.ts'
export { PeerSender, type PeerSenderInit } from './peer-sender.ts'
export { PenaltyBox, type PenaltyBoxInit } from './penalty-box.ts'
export { TokenBucket } from './token-bucket.ts'
