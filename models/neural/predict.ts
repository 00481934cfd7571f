import * as tf from '@tensorflow/tfjs'
import type { BatchGatherer } from './batches.ts'

/** Rows per inference batch. */
export const PREDICT_BATCH = 1024

/** Lets timers and I/O run between batches (lease renewals, abort signals). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * The arg-max class of every row in `rows` (in order), predicted in batches of at most
 * `gatherer.maxBatch` rows with the model in inference mode.
 */
export async function predictClasses(
  model: tf.LayersModel,
  gatherer: BatchGatherer,
  rows: Int32Array,
  signal?: AbortSignal,
): Promise<Int32Array> {
  const out = new Int32Array(rows.length)
  const shape = gatherer.inputShape
  for (let start = 0; start < rows.length; start += gatherer.maxBatch) {
    signal?.throwIfAborted()
    const end = Math.min(rows.length, start + gatherer.maxBatch)
    const x = gatherer.gather(rows, start, end)
    const classes = tf.tidy(() => {
      const probs = model.predict(tf.tensor(x, [end - start, ...shape]), { batchSize: end - start }) as tf.Tensor
      return tf.argMax(probs, -1)
    })
    out.set(classes.dataSync(), start)
    classes.dispose()
    await yieldToEventLoop()
  }
  return out
}
