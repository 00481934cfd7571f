import * as tf from '@tensorflow/tfjs'
import type { SeededInitializers } from './initializers.ts'

/** What every model builder needs besides its hypers. */
export interface ModelShape {
  /** Input shape without the batch axis: `[features]` or `[seq_len, features]`. */
  readonly inputShape: readonly number[]
  /** Number of classes (softmax outputs). */
  readonly classes: number
}

/** The input layer, named `features`. */
export function modelInput(shape: ModelShape): tf.SymbolicTensor {
  return tf.input({ shape: [...shape.inputShape], name: 'features' })
}

/**
 * Dropout when `rate` > 0, else the input unchanged.
 *
 * @remarks Layers are named explicitly everywhere: tfjs otherwise numbers them with a
 * process-wide counter, and the saved bytes would depend on what ran before.
 */
export function dropout(x: tf.SymbolicTensor, rate: number, name: string): tf.SymbolicTensor {
  return rate > 0 ? (tf.layers.dropout({ rate, name }).apply(x) as tf.SymbolicTensor) : x
}

/** A dense layer with a seeded Glorot-uniform kernel and zero bias. */
export function dense(
  x: tf.SymbolicTensor,
  units: number,
  activation: 'relu' | 'softmax' | 'linear',
  name: string,
  init: SeededInitializers,
): tf.SymbolicTensor {
  return tf.layers
    .dense({ units, activation, kernelInitializer: init.glorotUniform(), name })
    .apply(x) as tf.SymbolicTensor
}

/** The softmax output layer shared by all five models, named `probs`. */
export function classifierHead(x: tf.SymbolicTensor, classes: number, init: SeededInitializers): tf.SymbolicTensor {
  return dense(x, classes, 'softmax', 'probs', init)
}
