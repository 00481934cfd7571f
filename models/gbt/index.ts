export { EarlyStopping, parseEvalMetric } from './early-stopping.ts'
export { XGBOOST_INSTALL_HINT, XgboostCallError, XgboostMissingError } from './errors.ts'
export {
  type FindXgboostLibraryOptions,
  findXgboostLibrary,
  pythonPrefixes,
  systemLibraryDirs,
  type XgboostLibraryLookup,
  type XgboostLibrarySource,
} from './find-library.ts'
export { boosterParams, type FittedBooster, fitBooster, gatherRows } from './fit-booster.ts'
export { probeXgboost, type XgboostProbe } from './probe.ts'
export { argmaxRows } from './softprob.ts'
export { GBT_MODEL_FILE, trainGbt } from './train.ts'
export { type BoosterHandle, type DMatrixHandle, loadXgboost, XgboostLibrary } from './xgboost-lib.ts'
