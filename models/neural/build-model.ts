import type * as tf from '@tensorflow/tfjs'
import { CnnHyper, GruHyper, LstmHyper, MlpHyper, TransformerHyper } from '../registry/index.ts'
import { buildCnn } from './cnn.ts'
import { buildMlp } from './mlp.ts'
import type { ModelShape } from './model-parts.ts'
import { buildRnn } from './rnn.ts'
import { buildTransformer } from './transformer.ts'

/** The models this trainer builds. */
export const NEURAL_MODELS = ['mlp', 'cnn', 'gru', 'lstm', 'transformer'] as const
export type NeuralModelName = (typeof NEURAL_MODELS)[number]

/** Any neural model's hypers, defaults filled. */
export type NeuralHyper = MlpHyper | CnnHyper | GruHyper | LstmHyper | TransformerHyper

/** Type guard for the five neural model names. */
export function isNeuralModel(name: string): name is NeuralModelName {
  return (NEURAL_MODELS as readonly string[]).includes(name)
}

/** A neural model's hypers, validated and with defaults filled. */
export function parseNeuralHyper(model: NeuralModelName, hyper: Record<string, unknown>): NeuralHyper {
  const schema = { mlp: MlpHyper, cnn: CnnHyper, gru: GruHyper, lstm: LstmHyper, transformer: TransformerHyper }[model]
  return schema.parse(hyper)
}

/** Windows per input: `seq_len` for sequence models, null for the MLP. */
export function sequenceLength(hyper: NeuralHyper): number | null {
  return 'seq_len' in hyper ? hyper.seq_len : null
}

/** Builds the untrained model (seeded from `hyper.seed`). */
export function buildNeuralModel(model: NeuralModelName, shape: ModelShape, hyper: NeuralHyper): tf.LayersModel {
  switch (model) {
    case 'mlp':
      return buildMlp(shape, hyper as MlpHyper)
    case 'cnn':
      return buildCnn(shape, hyper as CnnHyper)
    case 'gru':
    case 'lstm':
      return buildRnn(model, shape, hyper as GruHyper)
    case 'transformer':
      return buildTransformer(shape, hyper as TransformerHyper)
  }
}
