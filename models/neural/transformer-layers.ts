import * as tf from '@tensorflow/tfjs'
import { deriveSeed } from './prng.ts'

/** Base layer options (name, trainable, ...). */
type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>
type Shape = (number | null)[]

function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs
}

function sequenceShape(inputShape: Shape | Shape[], layer: string): [number, number] {
  const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape
  if (s.length !== 3 || s[1] === null || s[2] === null)
    throw new Error(
      `${layer} expects inputs of shape [batch, steps, dim] with known steps and dim, got [${s.join(', ')}]`,
    )
  return [s[1], s[2]]
}

/** Options of {@link PositionEmbedding}. */
export interface PositionEmbeddingArgs extends LayerArgs {
  /** Seed of the embeddings' Glorot-uniform initializer. */
  seed?: number
}

/**
 * Adds a learned embedding per position: `[batch, steps, dim]` + `embeddings[steps, dim]`.
 *
 * @remarks A custom layer (registered as `Cis490PositionEmbedding`), since tfjs has no
 * position embedding; Keras users re-create it as `x + self.embeddings`.
 */
export class PositionEmbedding extends tf.layers.Layer {
  /** The class name saved in model.json. */
  static className = 'Cis490PositionEmbedding'
  private readonly seed: number | undefined
  private embeddings: tf.LayerVariable | null = null

  constructor(args: PositionEmbeddingArgs = {}) {
    super(args)
    this.seed = args.seed
  }

  override build(inputShape: Shape | Shape[]): void {
    const [steps, dim] = sequenceShape(inputShape, PositionEmbedding.className)
    this.embeddings = this.addWeight(
      'embeddings',
      [steps, dim],
      'float32',
      tf.initializers.glorotUniform({ seed: this.seed }),
    )
    this.built = true
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.add(single(inputs), this.embeddings!.read()))
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = { ...super.getConfig() }
    if (this.seed !== undefined) config.seed = this.seed
    return config
  }
}

/** Options of {@link MultiHeadSelfAttention}. */
export interface MultiHeadSelfAttentionArgs extends LayerArgs {
  /** Number of heads; the input dim must be a multiple of it. */
  numHeads: number
  /** Base seed of the four projection kernels' initializers. */
  seed?: number
}

/**
 * Multi-head scaled dot-product self-attention over `[batch, steps, dim]`, as Keras's
 * `MultiHeadAttention(num_heads, key_dim=dim/num_heads)` called with query = value = key.
 *
 * @remarks Weights: `query|key|value|output/kernel` `[dim, dim]` and `/bias` `[dim]`.
 * Per head h (columns h*dk..(h+1)*dk of the projections, dk = dim / num_heads):
 * `softmax(Q_h K_h^T / sqrt(dk)) V_h`, heads concatenated, then the output projection.
 * Registered as `Cis490MultiHeadSelfAttention` so it saves and loads.
 */
export class MultiHeadSelfAttention extends tf.layers.Layer {
  /** The class name saved in model.json. */
  static className = 'Cis490MultiHeadSelfAttention'
  private readonly numHeads: number
  private readonly seed: number | undefined
  private kernels: tf.LayerVariable[] = []
  private biases: tf.LayerVariable[] = []

  constructor(args: MultiHeadSelfAttentionArgs) {
    super(args)
    if (!Number.isInteger(args.numHeads) || args.numHeads < 1)
      throw new RangeError(
        `${MultiHeadSelfAttention.className}: numHeads must be a positive integer, got ${args.numHeads}`,
      )
    this.numHeads = args.numHeads
    this.seed = args.seed
  }

  override build(inputShape: Shape | Shape[]): void {
    const [, dim] = sequenceShape(inputShape, MultiHeadSelfAttention.className)
    if (dim % this.numHeads !== 0)
      throw new RangeError(
        `${MultiHeadSelfAttention.className}: input dim ${dim} is not a multiple of ${this.numHeads} heads`,
      )
    const parts = ['query', 'key', 'value', 'output']
    this.kernels = parts.map((p) =>
      this.addWeight(
        `${p}/kernel`,
        [dim, dim],
        'float32',
        tf.initializers.glorotUniform({ seed: this.seed === undefined ? undefined : deriveSeed(this.seed, p) }),
      ),
    )
    this.biases = parts.map((p) => this.addWeight(`${p}/bias`, [dim], 'float32', tf.initializers.zeros()))
    this.built = true
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs)
      const [batch, steps, dim] = x.shape
      const h = this.numHeads
      const dk = dim / h
      const flat = tf.reshape(x, [batch * steps, dim])
      // [batch * steps, dim] -> [batch * heads, steps, dk]
      const project = (i: number): tf.Tensor3D =>
        tf.reshape(
          tf.transpose(
            tf.reshape(tf.add(tf.matMul(flat, this.kernels[i].read() as tf.Tensor2D), this.biases[i].read()), [
              batch,
              steps,
              h,
              dk,
            ]),
            [0, 2, 1, 3],
          ),
          [batch * h, steps, dk],
        )
      const q = project(0)
      const k = project(1)
      const v = project(2)
      const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dk))
      const context = tf.matMul(tf.softmax(scores), v)
      const merged = tf.reshape(tf.transpose(tf.reshape(context, [batch, h, steps, dk]), [0, 2, 1, 3]), [
        batch * steps,
        dim,
      ])
      const out = tf.add(tf.matMul(merged, this.kernels[3].read() as tf.Tensor2D), this.biases[3].read())
      return tf.reshape(out, [batch, steps, dim])
    })
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = { ...super.getConfig(), numHeads: this.numHeads }
    if (this.seed !== undefined) config.seed = this.seed
    return config
  }
}

tf.serialization.registerClass(PositionEmbedding)
tf.serialization.registerClass(MultiHeadSelfAttention)
