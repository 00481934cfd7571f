import type { DerivedJob, VerifiedRecord } from '../../crdt/index.ts'
import type { HostPolicy } from '../../manifests/index.ts'
import type { HostCapability } from '../scheduler/index.ts'

/** A peer of the fleet as this node knows it (one row of `cis490-node workers`). */
export interface WorkerInfo {
  peer_id: string
  hostname: string
  /** The peer's capability score for a job that prefers no GPU (its RAM and cores). */
  score: number
  capability: HostCapability
  /** When this node last heard from the peer, ms since the epoch. */
  last_seen: number
  /** Ids of the jobs the peer runs or has claimed. */
  running: string[]
  /** Whether this node currently reaches the peer (a live worker). */
  reachable: boolean
  /** Whether the peer serves blocks (bundles) to the fleet. */
  store: boolean
  /** Whether the peer claims jobs at all (false: it lacks the fleet dataset); absent = it does. */
  trains?: boolean
}

/** What became of the records of one `POST /v1/ops`. */
export interface SubmitResult {
  /** Records appended to the job table (and spread to the fleet). */
  accepted: number
  /** Records the table already held, or specs equal to the stored ones. */
  unchanged: number
  /** Records refused, by their index in the request, with the reason. */
  rejected: { index: number; reason: string }[]
}

/**
 * What the HTTP API reads from (and submits to) the running node.
 *
 * @remarks The node implements it over its job table, lease observations and peer book;
 * tests use a fake. Every read returns this peer's current view; none may block.
 */
export interface FleetView {
  health(): { ok: boolean; peer_id: string; addresses: string[]; fleet: string; version: string }
  /** The whole fleet's table as this peer derives it. */
  jobs(): readonly DerivedJob[]
  /**
   * Every verified record of one job (for its history); operator records only when signed
   * by one of the fleet's `operator_keys`, as `deriveJobs` counts them.
   */
  records(jobId: string): readonly VerifiedRecord[]
  workers(): readonly WorkerInfo[]
  /** `[hosts.*]` of the fleet config. */
  hostPolicies(): ReadonlyMap<string, HostPolicy>
  /** Verifies operator records, appends and spreads them; idempotent. */
  submit(records: readonly Uint8Array[]): SubmitResult
}
