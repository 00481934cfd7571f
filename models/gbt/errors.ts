/** How to make XGBoost available to this project; appended to every "not found" message. */
export const XGBOOST_INSTALL_HINT =
  'install it with `apt-get install libxgboost0` (Debian/Ubuntu) or `pip install xgboost`, ' +
  'or set XGBOOST_LIBRARY to the path of libxgboost.so'

/**
 * XGBoost's shared library could not be found or loaded.
 *
 * @remarks Raised before any training starts, so a host without XGBoost fails a gbt job
 * at once with the fix in the message (and capability reporting can say so up front).
 */
export class XgboostMissingError extends Error {
  override name = 'XgboostMissingError'
  /** The paths that were tried, in order. */
  readonly searched: readonly string[]

  constructor(detail: string, searched: readonly string[] = []) {
    super(`XGBoost is not available: ${detail}; ${XGBOOST_INSTALL_HINT}`)
    this.searched = searched
  }
}

/** An XGBoost C API call returned an error; the message carries `XGBGetLastError()`. */
export class XgboostCallError extends Error {
  override name = 'XgboostCallError'
  /** The C function that failed, e.g. `XGBoosterUpdateOneIter`. */
  readonly fn: string

  constructor(fn: string, lastError: string) {
    super(`${fn} failed: ${lastError.trim() || '(XGBoost gave no error text)'}`)
    this.fn = fn
  }
}
