export type { LeaseRef, PeerMessage, PeerMessageType, PeerStatus, RenewedLease } from './messages.ts'
export { decodeMessage, encodeMessage, MESSAGE_TYPES, WIRE_LIMITS } from './messages.ts'
export type { ReplicaHost, ReplicaInit, ReplicaStats } from './replica.ts'
export { emptyReplicaStats, Replica } from './replica.ts'
