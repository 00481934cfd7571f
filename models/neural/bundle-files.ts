import * as tf from '@tensorflow/tfjs'
// Registers the transformer's custom layers, so any bundle in this format loads.
import './transformer-layers.ts'

/** The tfjs layers-format topology file in a bundle. */
export const MODEL_JSON = 'model.json'
/** The weights file `model.json`'s manifest points at. */
export const WEIGHTS_BIN = 'weights.bin'

/**
 * Serialises a tfjs layers model into `model.json` + `weights.bin`, the layout
 * `tf.loadLayersModel('file://.../model.json')` and `tensorflowjs_converter` read.
 *
 * @remarks Goes through a custom save handler (no file system or network I/O); the
 * JSON has a fixed key order and no timestamps, so equal weights give equal bytes.
 * No training config is saved: the model is trained by our own loop, not `fit`.
 */
export async function layersModelFiles(model: tf.LayersModel): Promise<Map<string, Uint8Array>> {
  let saved: tf.io.ModelArtifacts | null = null
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) }
    }),
  )
  const artifacts = saved as tf.io.ModelArtifacts | null
  if (!artifacts?.weightSpecs || artifacts.weightData === undefined)
    throw new Error('tfjs returned no weights when saving the model')
  const modelJson = {
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs }],
  }
  const weights = tf.io.CompositeArrayBuffer.join(artifacts.weightData)
  return new Map([
    [MODEL_JSON, new TextEncoder().encode(JSON.stringify(modelJson))],
    [WEIGHTS_BIN, new Uint8Array(weights)],
  ])
}

/**
 * Loads a model from bundle files (`model.json` + `weights.bin`, e.g. as read from a
 * bundle directory) on the current tfjs backend.
 */
export async function loadLayersModelFromFiles(files: ReadonlyMap<string, Uint8Array>): Promise<tf.LayersModel> {
  const json = files.get(MODEL_JSON)
  const weights = files.get(WEIGHTS_BIN)
  if (!json || !weights)
    throw new Error(
      `a tfjs bundle needs ${MODEL_JSON} and ${WEIGHTS_BIN}; got ${[...files.keys()].join(', ') || 'no files'}`,
    )
  const modelJson = JSON.parse(new TextDecoder().decode(json)) as tf.io.ModelJSON
  const artifacts = await tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const specs = manifest.flatMap((group) => group.weights)
    const data = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer
    return [specs, data]
  })
  return tf.loadLayersModel(tf.io.fromMemory(artifacts))
}
