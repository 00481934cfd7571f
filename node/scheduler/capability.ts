import { hostMayRun, type TableJobSpec } from '../../crdt/index.ts'
import type { HostPolicy } from '../../manifests/index.ts'
import { type ModelRuntime, modelSpec } from '../../models/registry/index.ts'

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

/**
 * Why a host may not run a job, or null when it may. `unsupported`: the job needs a newer
 * cis490-node (its model is unknown here, or its hypers do not validate against this
 * version's schema).
 */
export type IneligibleReason =
  | 'unsupported'
  | 'allowed_hosts'
  | 'host_policy'
  | 'require_cuda'
  | 'min_vram_gib'
  | 'min_ram_gib'
  | `runtime:${Exclude<ModelRuntime, 'none'>}`

/** Whether a job wants a GPU: it asks for CUDA, or its model trains faster on one. */
export function prefersGpu(spec: Pick<TableJobSpec, 'model' | 'prefer_cuda' | 'require_cuda'>): boolean {
  return spec.require_cuda || spec.prefer_cuda || modelSpec(spec.model)?.gpu === true
}

/**
 * Whether this version can train the spec: it knows the model and the hypers validate.
 * @remarks Never throws, whatever the spec holds (the table accepts any JSON hypers).
 */
export function isSupported(spec: Pick<TableJobSpec, 'model' | 'hyper'>): boolean {
  const model = modelSpec(spec.model)
  if (model === undefined) return false
  try {
    return model.hyper.safeParse(spec.hyper).success
  } catch {
    return false
  }
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
  spec: Pick<TableJobSpec, 'model' | 'prefer_cuda' | 'require_cuda'>,
): number {
  const base = clampInt(cap.ram_gib, 9999) * 100 + clampInt(cap.cores, 99)
  if (!prefersGpu(spec)) return base
  return (cap.cuda ? 1_000_000_000 : 0) + (cap.cuda ? clampInt(cap.vram_gib, 999) : 0) * 1_000_000 + base
}

/**
 * Why `cap` may not run `spec` under the fleet's host policies, or null when it may.
 * @remarks Checks that this version supports the job, the job's constraints
 * (allowed_hosts, require_cuda, min_vram_gib, min_ram_gib), the host's allow/deny lists
 * and whether the model's runtime is present.
 */
export function ineligibility(
  cap: HostCapability,
  spec: TableJobSpec,
  hosts?: ReadonlyMap<string, HostPolicy>,
): IneligibleReason | null {
  const model = modelSpec(spec.model)
  if (model === undefined || !isSupported(spec)) return 'unsupported'
  if (spec.allowed_hosts.length > 0 && !spec.allowed_hosts.includes(cap.hostname)) return 'allowed_hosts'
  if (!hostMayRun(spec, cap.hostname, hosts)) return 'host_policy'
  if (spec.require_cuda && !cap.cuda) return 'require_cuda'
  if (spec.min_vram_gib > 0 && (!cap.cuda || cap.vram_gib < spec.min_vram_gib)) return 'min_vram_gib'
  if (cap.ram_gib < spec.min_ram_gib) return 'min_ram_gib'
  const runtime = model.runtime
  if (runtime !== 'none' && !cap.runtimes.includes(runtime)) return `runtime:${runtime}`
  return null
}

/** Whether `cap` may run `spec` (see `ineligibility`). */
export function mayRun(cap: HostCapability, spec: TableJobSpec, hosts?: ReadonlyMap<string, HostPolicy>): boolean {
  return ineligibility(cap, spec, hosts) === null
}
