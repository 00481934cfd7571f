/**
 * The model registry: model names, their hyper-parameter schemas and what each needs of a host.
 *
 * @remarks A leaf module (it imports only zod) so that manifests/, crdt/ and node/ can
 * depend on it without depending on the trainers, and models/ on manifests/ without a cycle.
 */
export {
  CnnHyper,
  GbtHyper,
  GruHyper,
  KnnHyper,
  KnnSemiHyper,
  LstmHyper,
  MlpHyper,
  TransformerHyper,
} from './hypers.ts'
export {
  isModelName,
  MODEL_NAMES,
  MODELS,
  type ModelName,
  type ModelRuntime,
  type ModelSpec,
  modelSpec,
  resolveHyper,
} from './registry.ts'
