export {
  DATASET_CONFIG_FILE,
  type DatasetConfig,
  DatasetConfigSchema,
  globToRegExp,
  type ModeSpec,
  modeNames,
  parseDatasetConfig,
  readDatasetConfig,
  selectFeatures,
} from './config.ts'
export { DatasetError, type DatasetLocation } from './errors.ts'
export { type DatasetInfo, datasetInfo } from './info.ts'
export { type LoadOptions, loadDataset, loadDatasetKeys, REQUIRED_COLUMNS, readDatasetLayout } from './load.ts'
export { Prng } from './prng.ts'
export { schemaHash } from './schema-hash.ts'
export {
  DEFAULT_SYNTH,
  isSynthesizedDataset,
  type SynthOptions,
  type SynthSummary,
  synthesizeDataset,
} from './synth.ts'
