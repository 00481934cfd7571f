export { type AssembledBundle, type AssembleInput, assembleBundle, type BundleSplit } from './assemble.ts'
export {
  BUNDLE_FORMAT,
  BUNDLE_JSON_FILE,
  type BundleJson,
  type BundleJsonInput,
  BundleJsonSchema,
  buildBundleJson,
  bundleJsonBytes,
  README_FILE,
  SCALER_FILE,
  STANDARD_METRIC_KEYS,
} from './bundle-json.ts'
export { sortKeys, stableJson } from './canonical-json.ts'
export { BundleError, SchemaMismatchError } from './errors.ts'
export { assertSchemaMatches, type LoadedBundle, readBundle } from './read-bundle.ts'
export { bundleReadme, PYTHON_PRINT_PREDICTIONS, PYTHON_READ_CSV, PYTHON_RUN_HINT, type ReadmeInput } from './readme.ts'
export { ScalerJsonSchema, scalerFromJson, scalerJsonBytes } from './scaler-json.ts'
export { checkBundleFileName, importBundle, listBundleFiles, writeBundleFiles } from './write-bundle.ts'
