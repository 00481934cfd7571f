import { z } from 'zod'

/**
 * Hyper-parameter schemas of the eight models, validated when a manifest loads.
 *
 * @remarks Every schema is strict: an unknown key is a load error, never a
 * training-time surprise. Defaults are filled by `parse`; the job id is computed
 * from the hypers as written, so adding a default later does not change ids.
 */

const posInt = (def: number) =>
  z.int({ error: 'expected a positive integer' }).positive({ error: 'expected a positive integer' }).default(def)
const nonNegInt = (def: number) =>
  z
    .int({ error: 'expected a non-negative integer' })
    .nonnegative({ error: 'expected a non-negative integer' })
    .default(def)
const posNum = (def: number) =>
  z.number({ error: 'expected a positive number' }).positive({ error: 'expected a positive number' }).default(def)
const nonNegNum = (def: number) =>
  z
    .number({ error: 'expected a non-negative number' })
    .nonnegative({ error: 'expected a non-negative number' })
    .default(def)
const fraction = (def: number) =>
  z
    .number({ error: 'expected a number in (0, 1]' })
    .gt(0, { error: 'expected a number in (0, 1]' })
    .lte(1, { error: 'expected a number in (0, 1]' })
    .default(def)
const unitInterval = (def: number) =>
  z
    .number({ error: 'expected a number in [0, 1)' })
    .gte(0, { error: 'expected a number in [0, 1)' })
    .lt(1, { error: 'expected a number in [0, 1)' })
    .default(def)

/** XGBoost hypers, with XGBoost's own names and defaults (`nthread` 0 = all cores). */
export const GbtHyper = z.strictObject({
  max_depth: posInt(6),
  eta: posNum(0.3),
  subsample: fraction(1),
  colsample_bytree: fraction(1),
  min_child_weight: nonNegNum(1),
  lambda: nonNegNum(1),
  num_boost_round: posInt(500),
  early_stopping_rounds: posInt(20),
  nthread: nonNegInt(0),
})

/** Brute-force KNN on standardised features. */
export const KnnHyper = z.strictObject({
  k: posInt(10),
})

/** Yarowsky-style self-training KNN. */
export const KnnSemiHyper = z.strictObject({
  k: posInt(10),
  label_frac: fraction(0.2),
  confidence_threshold: fraction(0.6),
})

const neuralBase = {
  epochs: posInt(20),
  batch_size: posInt(256),
  lr: posNum(1e-3),
  hidden: posInt(128),
  layers: posInt(2),
  dropout: unitInterval(0.1),
  patience: posInt(5),
  seed: nonNegInt(0),
}

/** Multi-layer perceptron over the current window's features. */
export const MlpHyper = z.strictObject({ ...neuralBase })
/** 1-D convolution over the last `seq_len` windows. */
export const CnnHyper = z.strictObject({
  ...neuralBase,
  seq_len: posInt(8),
  filters: posInt(64),
  kernel_size: posInt(3),
})
/** GRU over the last `seq_len` windows. */
export const GruHyper = z.strictObject({ ...neuralBase, seq_len: posInt(8) })
/** LSTM over the last `seq_len` windows. */
export const LstmHyper = z.strictObject({ ...neuralBase, seq_len: posInt(8) })
/** Small transformer encoder over the last `seq_len` windows; `hidden` splits evenly across `heads`. */
export const TransformerHyper = z
  .strictObject({ ...neuralBase, seq_len: posInt(8), heads: posInt(4) })
  .refine((h) => h.hidden % h.heads === 0, {
    error: 'expected heads to divide hidden (each head gets hidden / heads dimensions)',
    path: ['heads'],
  })

export type GbtHyper = z.infer<typeof GbtHyper>
export type KnnHyper = z.infer<typeof KnnHyper>
export type KnnSemiHyper = z.infer<typeof KnnSemiHyper>
export type MlpHyper = z.infer<typeof MlpHyper>
export type CnnHyper = z.infer<typeof CnnHyper>
export type GruHyper = z.infer<typeof GruHyper>
export type LstmHyper = z.infer<typeof LstmHyper>
export type TransformerHyper = z.infer<typeof TransformerHyper>
