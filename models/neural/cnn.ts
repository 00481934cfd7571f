import * as tf from '@tensorflow/tfjs'
import type { CnnHyper } from '../registry/index.ts'
import { SeededInitializers } from './initializers.ts'
import { classifierHead, dense, dropout, type ModelShape, modelInput } from './model-parts.ts'

/**
 * The 1-D CNN over `[seq_len, features]`: `layers` x (Conv1D(`filters`,
 * `kernel_size`, 'same' padding, relu) -> Dropout) -> Flatten -> Dense(`hidden`, relu) -> Dropout ->
 * Dense(classes, softmax).
 *
 * @remarks 'same' padding keeps the sequence length (tfjs 4.22 has no causal padding
 * for Conv1D), and flattening rather than pooling keeps where in the sequence a pattern
 * occurred: the last step is the window being classified.
 */
export function buildCnn(shape: ModelShape, hyper: CnnHyper): tf.LayersModel {
  const init = new SeededInitializers(hyper.seed)
  const input = modelInput(shape)
  let x = input
  for (let i = 1; i <= hyper.layers; i++) {
    x = tf.layers
      .conv1d({
        filters: hyper.filters,
        kernelSize: hyper.kernel_size,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init.glorotUniform(),
        name: `conv_${i}`,
      })
      .apply(x) as tf.SymbolicTensor
    x = dropout(x, hyper.dropout, `conv_dropout_${i}`)
  }
  x = tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor
  x = dense(x, hyper.hidden, 'relu', 'dense', init)
  x = dropout(x, hyper.dropout, 'dropout')
  return tf.model({ inputs: input, outputs: classifierHead(x, shape.classes, init), name: 'cnn' })
}
