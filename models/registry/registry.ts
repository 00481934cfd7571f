import type { z } from 'zod'
import {
  CnnHyper,
  GbtHyper,
  GruHyper,
  KnnHyper,
  KnnSemiHyper,
  LstmHyper,
  MlpHyper,
  TransformerHyper,
} from './hypers.ts'

/** The model names a manifest may use. */
export const MODEL_NAMES = ['gbt', 'knn', 'knn_semi', 'mlp', 'cnn', 'gru', 'lstm', 'transformer'] as const
export type ModelName = (typeof MODEL_NAMES)[number]

/** What a host needs to run a model: XGBoost's shared library, TensorFlow.js, or nothing. */
export type ModelRuntime = 'xgboost' | 'tfjs' | 'none'

/** A model's declaration: its hyper schema and what it needs of a host. */
export interface ModelSpec {
  readonly name: ModelName
  readonly hyper: z.ZodType<Record<string, unknown>, Record<string, unknown>>
  readonly runtime: ModelRuntime
  /** Sequence models see the last `seq_len` windows of an episode. */
  readonly sequence: boolean
  /** Whether the model benefits from CUDA (used by capability scoring). */
  readonly gpu: boolean
}

/** The eight models of the project and their hyper schemas. */
export const MODELS: Readonly<Record<ModelName, ModelSpec>> = {
  gbt: { name: 'gbt', hyper: GbtHyper, runtime: 'xgboost', sequence: false, gpu: false },
  knn: { name: 'knn', hyper: KnnHyper, runtime: 'none', sequence: false, gpu: false },
  knn_semi: { name: 'knn_semi', hyper: KnnSemiHyper, runtime: 'none', sequence: false, gpu: false },
  mlp: { name: 'mlp', hyper: MlpHyper, runtime: 'tfjs', sequence: false, gpu: true },
  cnn: { name: 'cnn', hyper: CnnHyper, runtime: 'tfjs', sequence: true, gpu: true },
  gru: { name: 'gru', hyper: GruHyper, runtime: 'tfjs', sequence: true, gpu: true },
  lstm: { name: 'lstm', hyper: LstmHyper, runtime: 'tfjs', sequence: true, gpu: true },
  transformer: { name: 'transformer', hyper: TransformerHyper, runtime: 'tfjs', sequence: true, gpu: true },
}

const byName: ReadonlyMap<string, ModelSpec> = new Map(Object.values(MODELS).map((m) => [m.name, m]))

/**
 * The registry entry of a model name from anywhere (a record, a request), or undefined
 * when this version does not know the name (`__proto__` and `constructor` included).
 */
export function modelSpec(name: string): ModelSpec | undefined {
  return byName.get(name)
}

/** Type guard for model names. */
export function isModelName(name: unknown): name is ModelName {
  return typeof name === 'string' && (MODEL_NAMES as readonly string[]).includes(name)
}

/** Fills a model's hyper defaults; throws the zod error on bad hypers. */
export function resolveHyper(model: ModelName, hyper: Record<string, unknown>): Record<string, unknown> {
  return MODELS[model].hyper.parse(hyper)
}
