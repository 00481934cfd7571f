export { chooseBlasThreads, isOpenBlas, loadOpenBlas, type OpenBlas, type OpenBlasUnavailable } from './blas.ts'
export { type DotKernel, defaultDotKernel, jsDotKernel, openBlasKernel } from './dot-kernel.ts'
export { fitKnn, type KnnClassifier, type KnnPrediction, predictKnn } from './knn-classifier.ts'
export {
  decodeKnnFile,
  encodeKnnFile,
  KNN_FILE_FORMAT,
  KNN_FILE_MAGIC,
  type KnnFile,
  type KnnFileHeader,
  type KnnFileInput,
} from './knn-file.ts'
export { buildKnnIndex, indexRows, type KnnIndex } from './knn-index.ts'
export { type KnnSearchOptions, type Neighbours, searchKnn } from './knn-search.ts'
export { type Votes, voteNeighbours } from './knn-vote.ts'
export { type LabelSelection, selectLabelled } from './label-selection.ts'
export { KNN_PYTHON_LOADER, knnReadme } from './readme.ts'
export { createDistanceBlock, type DistanceBlock, SCAN_CHUNK, SCAN_WASM } from './simd-scan.ts'
export { KNN_MODEL_FILE, trainKnn } from './train.ts'
export { KNN_LABELLER_FILE, trainKnnSemi } from './train-semi.ts'
