import * as tf from '@tensorflow/tfjs'
import type { GruHyper, LstmHyper } from '../registry/index.ts'
import { SeededInitializers } from './initializers.ts'
import { classifierHead, dropout, type ModelShape, modelInput } from './model-parts.ts'

/** The two recurrent cells. */
export type RnnKind = 'gru' | 'lstm'

/**
 * A stacked GRU or LSTM over `[seq_len, features]`: `layers` x (RNN(`hidden`) ->
 * Dropout), every layer but the last returning sequences, then Dense(classes, softmax)
 * on the last step's state.
 *
 * @remarks tfjs's GRU is Keras's `reset_after=False` variant (it says so in the saved
 * config). Gates use the logistic sigmoid, as Keras 2 and PyTorch do (tfjs defaults to
 * the hard sigmoid, whose clipped gradient also costs three extra kernels per step). Recurrent kernels start Glorot-uniform rather than Keras's orthogonal: tfjs
 * orthogonalises by Gram-Schmidt in tensor ops, which takes 15 s for one 128x512 LSTM
 * kernel on the cpu backend (0.2 s on wasm) and warns on the console; over 8 steps the
 * difference in conditioning does not matter.
 */
export function buildRnn(kind: RnnKind, shape: ModelShape, hyper: GruHyper | LstmHyper): tf.LayersModel {
  const init = new SeededInitializers(hyper.seed)
  const input = modelInput(shape)
  let x = input
  for (let i = 1; i <= hyper.layers; i++) {
    const args = {
      units: hyper.hidden,
      returnSequences: i < hyper.layers,
      kernelInitializer: init.glorotUniform(),
      recurrentInitializer: init.glorotUniform(),
      recurrentActivation: 'sigmoid' as const,
      name: `${kind}_${i}`,
    }
    x = (kind === 'gru' ? tf.layers.gru(args) : tf.layers.lstm(args)).apply(x) as tf.SymbolicTensor
    x = dropout(x, hyper.dropout, `dropout_${i}`)
  }
  return tf.model({ inputs: input, outputs: classifierHead(x, shape.classes, init), name: kind })
}
