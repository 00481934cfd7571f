export type {
  KnownPeer,
  PeerComponents,
  PeerCoreStats,
  PeerEffect,
  PeerObserver,
  RunRequest,
  SubmitRejection,
  SubmitResult,
} from './peer-core.ts'
export { PeerCore } from './peer-core.ts'
export type { PeerInit } from './peer-init.ts'
export { DEFAULT_PEER_INIT } from './peer-init.ts'
