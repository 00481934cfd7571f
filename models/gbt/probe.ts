import type { FindXgboostLibraryOptions } from './find-library.ts'
import { loadXgboost } from './xgboost-lib.ts'

/** What {@link probeXgboost} reports about this host's XGBoost. */
export interface XgboostProbe {
  readonly available: boolean
  /** The library that was loaded, or the one path that was tried (XGBOOST_LIBRARY, or a file that failed to load). */
  readonly path?: string
  /** `major.minor.patch`. */
  readonly version?: string
  /** Whether the library was built with CUDA (`XGBuildInfo().USE_CUDA`). */
  readonly cuda?: boolean
  /** Why XGBoost is unavailable, with how to install it. */
  readonly error?: string
}

/**
 * Whether gbt jobs can run here, for capability reporting.
 *
 * @remarks Never throws. Cheap: the first call searches (a few `stat`s and `readdir`s, ~10 ms)
 * and opens the library (~60 ms); once found, later calls reuse it (see {@link loadXgboost}),
 * while a failed search is repeated so that a later install is noticed.
 */
export function probeXgboost(options: FindXgboostLibraryOptions = {}): XgboostProbe {
  try {
    const lib = loadXgboost(options)
    return { available: true, path: lib.path, version: lib.version, cuda: lib.cuda }
  } catch (err) {
    const searched = (err as { searched?: readonly string[] }).searched
    const path = searched?.length === 1 ? searched[0] : undefined
    return { available: false, ...(path !== undefined ? { path } : {}), error: (err as Error).message }
  }
}
