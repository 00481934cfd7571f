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
  /** This node's training logs and bundles; absent when the view has no run directory. */
  runFiles?: RunFilesView
}

/** The end of one training log of this node (`GET /v1/jobs/{id}/log`). */
export interface RunLogTail {
  /** The run's directory name under `DATA_DIR/runs` (`<job>-g<generation>-r<round>`). */
  run: string
  generation: number
  round: number
  /** The log's whole size in bytes. */
  size: number
  /** Whether `text` starts after the log's beginning (the log is longer than asked for). */
  truncated: boolean
  /** The last bytes asked for, from the first whole line on when truncated. */
  text: string
}

/** What this node holds of a job's bundle: `bundle.json`'s metrics (`GET /v1/jobs/{id}/metrics`). */
export interface BundleReport {
  job: string
  /** The bundle's root CID as the table has it. */
  bundle: string | null
  /** Where this node read it: its own run directory, or its block store (a store peer holds every bundle). */
  source: 'run' | 'blocks'
  /** The run directory it was read from; null when read from the block store. */
  run: string | null
  classes: string[]
  hyper: Record<string, unknown>
  split: { test_hosts: string[]; train_hosts: string[]; train_rows: number; val_rows: number; test_rows: number }
  metrics: {
    val_macro_f1: number
    test_macro_f1: number
    val_accuracy: number
    test_accuracy: number
    /** `{CLASS: {val, test}}`. */
    per_class_f1: Record<string, { val: number; test: number }>
    /** Rows are true classes, columns predicted ones, both in `classes` order. */
    confusion: { val: number[][]; test: number[][] }
  }
}

/**
 * What the dashboard reads of this node's own runs besides the table.
 *
 * @remarks Optional on a `FleetView`: a view without it answers 404 on the routes that
 * need it. The node implements it over `DATA_DIR/runs` (see `run-files.ts`); the job id
 * passed in is always a full id of the table, never text a client chose.
 */
export interface RunFilesView {
  /** The tail (at most `maxBytes`) of the training log of this node's newest run of the job, or null. */
  runLog(jobId: string, maxBytes: number): Promise<RunLogTail | null>
  /** `bundle.json` of the job's bundle when this node holds it (its own run, or its block store), or null. */
  bundleReport(jobId: string, bundle: string | null): Promise<BundleReport | null>
}
