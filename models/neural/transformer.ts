import * as tf from '@tensorflow/tfjs'
import type { TransformerHyper } from '../registry/index.ts'
import { SeededInitializers } from './initializers.ts'
import { classifierHead, dense, dropout, type ModelShape, modelInput } from './model-parts.ts'
import { deriveSeed } from './prng.ts'
import { MultiHeadSelfAttention, PositionEmbedding } from './transformer-layers.ts'

/**
 * A small transformer encoder over `[seq_len, features]`: Dense(`hidden`) embedding +
 * learned position embedding, then `layers` post-norm encoder blocks (multi-head
 * self-attention with `heads` heads, residual, LayerNorm; feed-forward 2*`hidden` relu ->
 * `hidden`, residual, LayerNorm; Dropout after attention and feed-forward), global
 * average pooling over the steps, Dense(classes, softmax).
 */
export function buildTransformer(shape: ModelShape, hyper: TransformerHyper): tf.LayersModel {
  const d = hyper.hidden
  if (d % hyper.heads !== 0)
    throw new RangeError(`transformer: hidden (${d}) must be a multiple of heads (${hyper.heads}); change either hyper`)
  const init = new SeededInitializers(hyper.seed)
  const input = modelInput(shape)
  let x = dense(input, d, 'linear', 'embed', init)
  x = new PositionEmbedding({ name: 'position', seed: deriveSeed(hyper.seed, 'position') }).apply(
    x,
  ) as tf.SymbolicTensor
  x = dropout(x, hyper.dropout, 'embed_dropout')
  for (let i = 1; i <= hyper.layers; i++) {
    let a = new MultiHeadSelfAttention({
      numHeads: hyper.heads,
      seed: deriveSeed(hyper.seed, 'attention', i),
      name: `attention_${i}`,
    }).apply(x) as tf.SymbolicTensor
    a = dropout(a, hyper.dropout, `attention_dropout_${i}`)
    x = tf.layers.add({ name: `attention_add_${i}` }).apply([x, a]) as tf.SymbolicTensor
    x = tf.layers.layerNormalization({ name: `attention_norm_${i}` }).apply(x) as tf.SymbolicTensor
    let f = dense(x, 2 * d, 'relu', `ffn_in_${i}`, init)
    f = dense(f, d, 'linear', `ffn_out_${i}`, init)
    f = dropout(f, hyper.dropout, `ffn_dropout_${i}`)
    x = tf.layers.add({ name: `ffn_add_${i}` }).apply([x, f]) as tf.SymbolicTensor
    x = tf.layers.layerNormalization({ name: `ffn_norm_${i}` }).apply(x) as tf.SymbolicTensor
  }
  x = tf.layers.globalAveragePooling1d({ name: 'pool' }).apply(x) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: classifierHead(x, shape.classes, init), name: 'transformer' })
}
