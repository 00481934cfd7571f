import type { NeuralModelName } from './build-model.ts'

/** What the bundle README describes. */
export interface NeuralReadmeFacts {
  readonly model: NeuralModelName
  /** Windows per input for sequence models, null for the MLP. */
  readonly seqLen: number | null
  readonly features: number
  readonly classes: number
}

/**
 * The bundle README section for a tfjs model: files, input construction (standardisation
 * and sequences), loading in tfjs and converting for Keras.
 */
export function neuralReadme(facts: NeuralReadmeFacts): string {
  const { model, seqLen, features, classes } = facts
  const shape = seqLen === null ? `[n, ${features}]` : `[n, ${seqLen}, ${features}]`
  const lines = [
    `# ${model} (TensorFlow.js layers model)`,
    '',
    '## Files',
    '- `model.json`: the tfjs layers-format topology and weights manifest.',
    '- `weights.bin`: the weights, little-endian float32, in the order of `weightsManifest[0].weights`',
    '  (each entry has `name`, `shape`, `dtype`).',
    '- `scaler.json`: `{mean, std}`, one number per feature, in `bundle.json` `features` order.',
    '- `bundle.json`: `features` (input order) and `classes` (output order), the hypers and metrics.',
    '',
    '## Inputs',
    `The model takes float32 tensors of shape ${shape} and returns softmax probabilities of shape`,
    `[n, ${classes}] over \`classes\`; the predicted class is the arg-max.`,
    '',
    'Standardise every window: for feature j, `(x[j] - mean[j]) / std[j]`, a missing value (NaN)',
    'becoming 0, with `mean` and `std` from `scaler.json`.',
  ]
  if (seqLen === null) {
    lines.push('', "The MLP's input for a window is that window's standardised features.")
  } else {
    lines.push(
      '',
      `The input for a window is the last ${seqLen} windows of the same host and episode ending at it, in`,
      '`window` order, oldest first (the window being classified is the last row). Positions before',
      "the episode's first window are rows of zeros: the k-th window of an episode (k from 1) gets",
      `${seqLen} - k zero rows first when k < ${seqLen}.`,
    )
  }
  lines.push(
    '',
    '## Loading in TensorFlow.js',
    'With `@tensorflow/tfjs-node`: `await tf.loadLayersModel("file://DIR/model.json")`; in a browser,',
    'serve the directory and pass the `http(s)://` URL of `model.json`. With plain `@tensorflow/tfjs` in',
    'Node, load from memory:',
    '',
    '```js',
    "import * as tf from '@tensorflow/tfjs'",
    "import { readFile } from 'node:fs/promises'",
    "const json = JSON.parse(await readFile('model.json', 'utf8'))",
    "const bin = await readFile('weights.bin')",
    'const model = await tf.loadLayersModel(tf.io.fromMemory({',
    '  modelTopology: json.modelTopology,',
    '  weightSpecs: json.weightsManifest[0].weights,',
    '  weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),',
    '}))',
    `// inputs: a Float32Array of n * ${(seqLen ?? 1) * features} standardised values, row-major`,
    `const probs = model.predict(tf.tensor(inputs, ${shape}))`,
    '```',
  )
  if (model === 'transformer') {
    lines.push(
      '',
      'The transformer uses two custom layers that must be registered (`tf.serialization.registerClass`)',
      "before loading; cis490-node's `models/neural/transformer-layers.ts` defines and registers them:",
      '- `Cis490PositionEmbedding`: adds a learned `embeddings` weight of shape [steps, dim] to its input.',
      '- `Cis490MultiHeadSelfAttention` (`num_heads`): Keras `MultiHeadAttention(num_heads,',
      '  key_dim=dim/num_heads)` with query = key = value = the input. Weights `query|key|value|output`',
      '  `/kernel` [dim, dim] and `/bias` [dim]; head h uses columns h*dk..(h+1)*dk of the projections,',
      '  `softmax(Q_h K_h^T / sqrt(dk)) V_h`, heads concatenated in order, then the output projection.',
    )
  }
  lines.push(
    '',
    '## Converting for Keras',
    '```sh',
    'pip install tensorflowjs',
    'tensorflowjs_converter --input_format=tfjs_layers_model --output_format=keras model.json model.h5',
    '```',
    'then `keras.models.load_model("model.h5")`.',
  )
  if (model === 'gru')
    lines.push('tfjs GRUs are the `reset_after=False` variant (the saved config says so); keep that flag in Keras.')
  if (model === 'transformer')
    lines.push(
      'The converter cannot rebuild the two custom layers by itself: define Keras layers with the same',
      'class names, config (`num_heads`) and weight names, and pass them as `custom_objects`; or build the',
      'same architecture in Keras and copy the weights from `weights.bin` in manifest order.',
    )
  return `${lines.join('\n')}\n`
}
