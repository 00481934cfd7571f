import { z } from 'zod'
import type { ClassificationMetrics } from '../metrics.ts'
import { MODEL_NAMES } from '../registry/index.ts'
import { sortKeys, stableJson } from './canonical-json.ts'
import { BundleError } from './errors.ts'

/** bundle.json's `format` value. */
export const BUNDLE_FORMAT = 'cis490-bundle/1'
/** File names the bundle writer owns; a trainer may not use them. */
export const BUNDLE_JSON_FILE = 'bundle.json'
export const SCALER_FILE = 'scaler.json'
export const README_FILE = 'README.md'

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, { error: 'expected 64 lowercase hex digits' })
const f1 = z.number().min(0).max(1)

/** The metric keys every bundle has; trainers' extra metrics sit beside them. */
export const STANDARD_METRIC_KEYS = [
  'val_macro_f1',
  'test_macro_f1',
  'val_accuracy',
  'test_accuracy',
  'per_class_f1',
  'confusion',
] as const

/** bundle.json (CONTRACTS §7), as `readBundle` validates it. */
export const BundleJsonSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT, { error: `expected format "${BUNDLE_FORMAT}"` }),
  job_id: hex64,
  model: z.enum(MODEL_NAMES),
  mode: z.string().min(1),
  hyper: z.record(z.string(), z.unknown()),
  schema_hash: hex64,
  features: z.array(z.string()).min(1),
  classes: z.array(z.string()).min(1),
  split: z.strictObject({
    test_hosts: z.array(z.string()),
    train_hosts: z.array(z.string()),
    val_frac: z.number(),
    seed: z.int().nonnegative(),
    train_rows: z.int().nonnegative(),
    val_rows: z.int().nonnegative(),
    test_rows: z.int().nonnegative(),
  }),
  metrics: z.looseObject({
    val_macro_f1: f1,
    test_macro_f1: f1,
    val_accuracy: f1,
    test_accuracy: f1,
    per_class_f1: z.record(z.string(), z.strictObject({ val: f1, test: f1 })),
    confusion: z.strictObject({ val: z.array(z.array(z.int())), test: z.array(z.array(z.int())) }),
  }),
  model_info: z.record(z.string(), z.unknown()).optional(),
})

/** A parsed bundle.json. */
export type BundleJson = z.infer<typeof BundleJsonSchema>

/** Everything bundle.json is made of. */
export interface BundleJsonInput {
  readonly jobId: string
  readonly model: string
  readonly mode: string
  /** Hypers with defaults filled. */
  readonly hyper: Readonly<Record<string, unknown>>
  readonly schemaHash: string
  readonly features: readonly string[]
  readonly classes: readonly string[]
  readonly split: {
    readonly test_hosts: readonly string[]
    readonly train_hosts: readonly string[]
    readonly val_frac: number
    readonly seed: number
    readonly train_rows: number
    readonly val_rows: number
    readonly test_rows: number
  }
  readonly val: ClassificationMetrics
  readonly test: ClassificationMetrics
  /** The trainer's `extraMetrics`, merged into `metrics`. */
  readonly extraMetrics?: Readonly<Record<string, unknown>>
  /** The trainer's `extraBundle`, written as `model_info`. */
  readonly extraBundle?: Readonly<Record<string, unknown>>
}

/**
 * The bundle.json object in the contract's key order.
 *
 * @remarks `metrics.per_class_f1` is `{ CLASS: { val, test } }` (a class with no
 * support and no prediction in a split scores 0 there); `metrics.confusion` is
 * `{ val, test }`, each `[true][predicted]` counts in `classes` order. Nothing
 * time-, host- or run-dependent goes in, so the same job on the same data gives the
 * same bytes. Keys are in the contract's order; `hyper`, `model_info` and the trainer's
 * extra metrics (after the standard ones) have their keys sorted.
 * @throws BundleError when an extra metric would shadow a standard one.
 */
export function buildBundleJson(input: BundleJsonInput): Record<string, unknown> {
  const perClass: Record<string, { val: number; test: number }> = {}
  input.classes.forEach((name, c) => {
    perClass[name] = { val: input.val.perClassF1[c], test: input.test.perClassF1[c] }
  })
  const metrics: Record<string, unknown> = {
    val_macro_f1: input.val.macroF1,
    test_macro_f1: input.test.macroF1,
    val_accuracy: input.val.accuracy,
    test_accuracy: input.test.accuracy,
    per_class_f1: perClass,
    confusion: { val: input.val.confusion, test: input.test.confusion },
  }
  const extra = sortKeys(input.extraMetrics ?? {}, 'metrics') as Record<string, unknown>
  for (const [k, v] of Object.entries(extra)) {
    if (Object.hasOwn(metrics, k))
      throw new BundleError(`the trainer's extra metric "${k}" would replace the standard metric of that name`)
    metrics[k] = v
  }
  const out: Record<string, unknown> = {
    format: BUNDLE_FORMAT,
    job_id: input.jobId,
    model: input.model,
    mode: input.mode,
    hyper: sortKeys(input.hyper, 'hyper'),
    schema_hash: input.schemaHash,
    features: input.features,
    classes: input.classes,
    split: input.split,
    metrics,
  }
  if (input.extraBundle !== undefined && Object.keys(input.extraBundle).length > 0)
    out.model_info = sortKeys(input.extraBundle, 'model_info')
  return out
}

/** bundle.json's bytes: 2-space JSON in the order of {@link buildBundleJson}. */
export function bundleJsonBytes(input: BundleJsonInput): Uint8Array {
  return new TextEncoder().encode(stableJson(buildBundleJson(input)))
}
