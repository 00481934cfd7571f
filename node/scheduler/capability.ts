import { hostMayRun } from '../../crdt/index.ts'
import type { HostPolicy, JobSpec } from '../../manifests/index.ts'
import { MODELS, type ModelRuntime } from '../../models/registry/index.ts'

/** What a host offers, as it announces itself; the claim carries the score computed from it. */
export interface HostCapability {
  readonly hostname: string
  readonly cuda: boolean
  /** Memory of the largest CUDA device, GiB (0 without CUDA). */
  readonly vram_gib: number
  readonly ram_gib: number
  readonly cores: number
  /** Runtimes this host can load: XGBoost's shared library, TensorFlow.js. */
  readonly runtimes: readonly Exclude<ModelRuntime, 'none'>[]
}

/** Why a host may not run a job, or null when it may. */
export type IneligibleReason =
  | 'allowed_hosts'
  | 'host_policy'
  | 'require_cuda'
  | 'min_vram_gib'
  | 'min_ram_gib'
  | `runtime:${Exclude<ModelRuntime, 'none'>}`

/** Whether a job wants a GPU: it asks for CUDA, or its model trains faster on one. */
export function prefersGpu(spec: Pick<JobSpec, 'model' | 'prefer_cuda' | 'require_cuda'>): boolean {
  return spec.require_cuda || spec.prefer_cuda || MODELS[spec.model].gpu
}

const clampInt = (x: number, max: number) => Math.max(0, Math.min(max, Math.floor(x)))

/**
 * The capability score a host claims a job with: higher wins a tie.
 *
 * @remarks A pure, integer-valued function so that every peer ranks claims the same way.
 * Lexicographic by design: for a job that prefers a GPU (CUDA asked for, or a neural
 * model) CUDA dominates, then VRAM, then RAM, then cores:
 * `cuda·10^9 + vram·10^6 + ram·100 + cores`; for any other job only RAM and cores count:
 * `ram·100 + cores`. GiB and cores are floored and capped (VRAM at 999, RAM at 9999,
 * cores at 99) so a term never spills into the next.
 */
export function capabilityScore(
  cap: HostCapability,
  spec: Pick<JobSpec, 'model' | 'prefer_cuda' | 'require_cuda'>,
): number {
  const base = clampInt(cap.ram_gib, 9999) * 100 + clampInt(cap.cores, 99)
  if (!prefersGpu(spec)) return base
  return (cap.cuda ? 1_000_000_000 : 0) + (cap.cuda ? clampInt(cap.vram_gib, 999) : 0) * 1_000_000 + base
}

/**
 * Why `cap` may not run `spec` under the fleet's host policies, or null when it may.
 * @remarks Checks the job's constraints (allowed_hosts, require_cuda, min_vram_gib,
 * min_ram_gib), the host's allow/deny lists and whether the model's runtime is present.
 */
export function ineligibility(
  cap: HostCapability,
  spec: JobSpec,
  hosts?: Readonly<Record<string, HostPolicy>>,
): IneligibleReason | null {
  if (spec.allowed_hosts.length > 0 && !spec.allowed_hosts.includes(cap.hostname)) return 'allowed_hosts'
  if (!hostMayRun(spec, cap.hostname, hosts)) return 'host_policy'
  if (spec.require_cuda && !cap.cuda) return 'require_cuda'
  if (spec.min_vram_gib > 0 && (!cap.cuda || cap.vram_gib < spec.min_vram_gib)) return 'min_vram_gib'
  if (cap.ram_gib < spec.min_ram_gib) return 'min_ram_gib'
  const runtime = MODELS[spec.model].runtime
  if (runtime !== 'none' && !cap.runtimes.includes(runtime)) return `runtime:${runtime}`
  return null
}

/** Whether `cap` may run `spec` (see `ineligibility`). */
export function mayRun(cap: HostCapability, spec: JobSpec, hosts?: Readonly<Record<string, HostPolicy>>): boolean {
  return ineligibility(cap, spec, hosts) === null
}
