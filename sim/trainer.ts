import type { RoundRef, RunOutcome } from '../node/index.ts'
import type { SimConfig } from './config.ts'
import type { Prng } from './prng.ts'

/** A simulated training run: how long it takes and how it ends. */
export interface PlannedRun {
  readonly durationMs: number
  readonly outcome: RunOutcome
  readonly slow: boolean
}

/**
 * Plans one run of `ref` on a host: its base time (per job) times the host's speed; with
 * the `trainer` fault some runs are slow (`slowFactor` times longer) and some exit non-zero
 * part-way through. A successful run's bundle id depends on the job and generation only, as
 * a real bundle's CID does on its (deterministic) content.
 */
export function planRun(
  ref: RoundRef,
  base: { trainMs: number; speed: number },
  cfg: SimConfig,
  faulty: boolean,
  rng: Prng,
): PlannedRun {
  const slow = faulty && rng.chance(cfg.slowRate)
  const fails = faulty && rng.chance(cfg.trainerFailRate)
  let durationMs = base.trainMs * base.speed * (slow ? cfg.slowFactor : 1)
  if (fails) durationMs *= rng.range(0.1, 1)
  const outcome: RunOutcome = fails
    ? { ok: false, error: 'trainer exited with code 1' }
    : {
        ok: true,
        bundle: `bafysim${ref.job.slice(0, 24)}g${ref.generation}`,
        valMacroF1: (Number.parseInt(ref.job.slice(0, 4), 16) % 1000) / 1000,
        testMacroF1: (Number.parseInt(ref.job.slice(4, 8), 16) % 1000) / 1000,
        fitSeconds: Math.round(durationMs) / 1000,
      }
  return { durationMs, outcome, slow }
}
