import type { ModelName } from '../models/registry/index.ts'

/** A job's 64-hex-digit id: sha256 of the canonical JSON of its identity fields. */
export type JobId = string & { __jobId: true }

/** The split of a job as written in the manifest. */
export interface SplitSpec {
  test_hosts?: string[]
  val_frac?: number
}

/**
 * The fields that make a job's identity (and so its id).
 * @typeParam M - the model name's type: a `ModelName` in a loaded manifest; any string in
 *   a job derived from the table, which may name a model of a newer version.
 */
export interface JobIdentity<M extends string = ModelName> {
  model: M
  mode: string
  hyper: Record<string, unknown>
  split: SplitSpec
  train_hosts: string[]
  seed: number
}

/** Where and how a job may run; not part of its id. */
export interface JobConstraints {
  priority: number
  require_cuda: boolean
  prefer_cuda: boolean
  min_vram_gib: number
  min_ram_gib: number
  allowed_hosts: string[]
  max_attempts: number
}

/** One `[[jobs]]` table, validated, with its id. `hyper` is as written (no defaults). */
export interface JobSpec<M extends string = ModelName> extends JobIdentity<M>, JobConstraints {
  id: JobId
}

/** Per-host policy from `[hosts.NAME]`. */
export interface HostPolicy {
  allow_jobs: ModelName[]
  deny_jobs: ModelName[]
  max_concurrent: number
}

/** The `[fleet]` table. */
export interface FleetConfig {
  name: string
  dataset: string
  operator_keys: string[]
  /** Lease length in seconds (default 30). */
  lease_s: number
}

/** A loaded, validated manifest. */
export interface Manifest {
  file: string
  fleet: FleetConfig
  /** `[hosts.NAME]` policies by hostname (a Map: hostnames such as `constructor` are plain keys). */
  hosts: ReadonlyMap<string, HostPolicy>
  jobs: JobSpec[]
}

/** Defaults of the optional `[[jobs]]` fields. */
export const DEFAULT_JOB_CONSTRAINTS: Readonly<JobConstraints> = {
  priority: 0,
  require_cuda: false,
  prefer_cuda: false,
  min_vram_gib: 0,
  min_ram_gib: 0,
  allowed_hosts: [],
  max_attempts: 3,
}

/** Default lease length: long enough to ride out a GC pause or a slow sync, short enough to recover quickly. */
export const DEFAULT_LEASE_S = 30
