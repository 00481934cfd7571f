export {
  NEURAL_BACKENDS,
  type NeuralBackend,
  type NeuralBackendName,
  type NeuralBackendProbe,
  probeNeuralBackends,
  TENSORFLOW_PACKAGES,
  useNeuralBackend,
} from './backend.ts'
export { BatchGatherer } from './batches.ts'
export { buildNeuralModel, isNeuralModel, NEURAL_MODELS, type NeuralModelName } from './build-model.ts'
export { layersModelFiles, loadLayersModelFromFiles, MODEL_JSON, WEIGHTS_BIN } from './bundle-files.ts'
export { PREDICT_BATCH, predictClasses } from './predict.ts'
export { trainNeural } from './train.ts'
