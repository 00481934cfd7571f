import * as tf from '@tensorflow/tfjs'
import { deriveSeed } from './prng.ts'

/** A tfjs weight initializer. */
export type Initializer = ReturnType<typeof tf.initializers.glorotUniform>

/**
 * Hands out seeded initializers, one fresh seed per weight, in the order a model builds
 * its layers.
 *
 * @remarks tfjs layers default to unseeded initializers (`Math.random`); giving each
 * weight its own seed derived from the `seed` hyper makes the initial weights, and so
 * the whole run on one backend, reproducible.
 */
export class SeededInitializers {
  private readonly seed: number
  private next = 0

  /** `seed`: the model's `seed` hyper. */
  constructor(seed: number) {
    this.seed = seed
  }

  /** Glorot-uniform (Keras's default kernel initializer) with the next seed. */
  glorotUniform(): Initializer {
    return tf.initializers.glorotUniform({ seed: this.nextSeed() })
  }

  private nextSeed(): number {
    return deriveSeed(this.seed, 'init', this.next++)
  }
}
