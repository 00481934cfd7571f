import { z } from 'zod'
import type { Scaler } from '../types.ts'
import { stableJson } from './canonical-json.ts'

/** scaler.json: per-feature train mean and population std (float32 values), in feature order. */
export const ScalerJsonSchema = z.strictObject({
  features: z.array(z.string()),
  mean: z.array(z.number()),
  std: z.array(z.number()),
})

/** scaler.json's bytes. */
export function scalerJsonBytes(features: readonly string[], scaler: Scaler): Uint8Array {
  return new TextEncoder().encode(
    stableJson({ features: [...features], mean: Array.from(scaler.mean), std: Array.from(scaler.std) }),
  )
}

/** A scaler read back from scaler.json (exact: float32 -> JSON -> float32 round-trips). */
export function scalerFromJson(json: z.infer<typeof ScalerJsonSchema>): Scaler {
  return { mean: Float32Array.from(json.mean), std: Float32Array.from(json.std) }
}
