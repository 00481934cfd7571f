import * as tf from '@tensorflow/tfjs'
import type { MlpHyper } from '../registry/index.ts'
import { SeededInitializers } from './initializers.ts'
import { classifierHead, dense, dropout, type ModelShape, modelInput } from './model-parts.ts'

/**
 * The MLP: `layers` x (Dense(`hidden`, relu) -> Dropout(`dropout`)) -> Dense(classes,
 * softmax), over one window's standardised features (`inputShape` `[features]`).
 */
export function buildMlp(shape: ModelShape, hyper: MlpHyper): tf.LayersModel {
  const init = new SeededInitializers(hyper.seed)
  const input = modelInput(shape)
  let x = input
  for (let i = 1; i <= hyper.layers; i++) {
    x = dense(x, hyper.hidden, 'relu', `dense_${i}`, init)
    x = dropout(x, hyper.dropout, `dropout_${i}`)
  }
  return tf.model({ inputs: input, outputs: classifierHead(x, shape.classes, init), name: 'mlp' })
}
