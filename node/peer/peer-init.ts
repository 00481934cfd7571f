import type { SchedulerInit } from '../scheduler/index.ts'
import type { ReplicaInit } from '../sync/index.ts'

/**
 * The protocol settings of a peer: leases, scheduling, sync pacing. Every value is in ms of
 * the peer's own clock.
 *
 * @remarks Separate from anything a simulation adds (fault rates, network delays): the
 * simulator passes its own, scaled-down `PeerInit` with the same ratios.
 */
export interface PeerInit extends Required<SchedulerInit>, ReplicaInit {
  /** The fleet's lease (`[fleet] lease_s`): a claim not renewed this long lapses. */
  readonly leaseMs: number
  /** After news (records, renewals, a run's exit) the peer re-derives and decides at most this long after. */
  readonly decideMs: number
  /** After a restart the peer claims nothing until a sync session delivered, or this long passed. */
  readonly catchUpMs: number
  /** Anti-entropy: every peer sends its heads to `aeFanout` random connected peers this often. */
  readonly aeMs: number
  readonly aeFanout: number
  /** Merged remote changes are persisted this often (the peer's own writes are persisted at once). */
  readonly persistMs: number
  /** Lease observations of rounds that are no longer current are forgotten this often. */
  readonly forgetLeasesMs: number
  /** Each peer broadcasts who it is and what it runs this often. */
  readonly heartbeatMs: number
  /** A peer not heard from for this long is dropped from the worker list. */
  readonly workerTtlMs: number
  /** The document store is compacted into one snapshot after this many incremental chunks. */
  readonly compactEvery: number
}

/**
 * Defaults tuned for the contract's 30 s lease: renewals three times a lease, a 3 s
 * settle window (several gossip round trips on a LAN), decisions within 100 ms of news.
 */
export const DEFAULT_PEER_INIT: Readonly<PeerInit> = {
  /** @default 30000 (contract §5: `lease_s` = 30) */
  leaseMs: 30_000,
  /** @default 10000: a third of the lease, so two renewals may be lost before it lapses */
  renewMs: 10_000,
  /** @default 3000: concurrent claims reach every peer well within it on a LAN */
  settleMs: 3000,
  /** @default 2000 */
  backoffBaseMs: 2000,
  /** @default 60000 */
  backoffMaxMs: 60_000,
  /** @default 5000 */
  lapseStaggerMs: 5000,
  /** @default 1 (a host policy's `max_concurrent` wins) */
  maxConcurrent: 1,
  /** @default 30000 */
  pruneMs: 30_000,
  /** @default 100 */
  decideMs: 100,
  /** @default 10000 */
  catchUpMs: 10_000,
  /** @default 200: merges are cheap next to a LAN round trip, and batching keeps bursts cheap */
  mergeMs: 200,
  /** @default 5000 */
  aeMs: 5000,
  /** @default 1 */
  aeFanout: 1,
  /** @default 2 */
  syncFanout: 2,
  /** @default 500 */
  wantDelayMs: 500,
  /** @default 2000 */
  wantRetryMs: 2000,
  /** @default 1000 */
  persistMs: 1000,
  /** @default 20000 */
  forgetLeasesMs: 20_000,
  /** @default 10000 */
  heartbeatMs: 10_000,
  /** @default 3600000 (an hour: `workers` shows peers that went away, as unreachable) */
  workerTtlMs: 3_600_000,
  /** @default 4 */
  syncSessionMessages: 4,
  /** @default 100 */
  maxWantReply: 100,
  /** @default 4 */
  headsCheckedPerMerge: 4,
  /** @default 1000 */
  compactEvery: 1000,
}
