import { createRequire } from 'node:module'
import { XgboostCallError, XgboostMissingError } from './errors.ts'
import { type FindXgboostLibraryOptions, findXgboostLibrary, type XgboostLibrarySource } from './find-library.ts'

type Koffi = typeof import('koffi')
type KoffiFunction = ReturnType<ReturnType<Koffi['load']>['func']>

/** An XGBoost `DMatrixHandle` (a C pointer). */
export type DMatrixHandle = bigint & { __dmatrix: true }
/** An XGBoost `BoosterHandle` (a C pointer). */
export type BoosterHandle = bigint & { __booster: true }

const require = createRequire(import.meta.url)
let koffiModule: Koffi | undefined

/** koffi, loaded on first use so that a broken native addon is a catchable error, not an import failure. */
function koffi(): Koffi {
  koffiModule ??= require('koffi') as Koffi
  return koffiModule
}

/** The C functions we use, with XGBoost 1.7's signatures (`bst_ulong` is `uint64_t`). */
const PROTOTYPES = {
  XGBGetLastError: 'const char *XGBGetLastError()',
  XGBoostVersion: 'void XGBoostVersion(_Out_ int *major, _Out_ int *minor, _Out_ int *patch)',
  XGBuildInfo: 'int XGBuildInfo(_Out_ const char **out)',
  XGDMatrixCreateFromMat_omp:
    'int XGDMatrixCreateFromMat_omp(const float *data, uint64_t nrow, uint64_t ncol, float missing, _Out_ void **out, int nthread)',
  XGDMatrixSetFloatInfo: 'int XGDMatrixSetFloatInfo(void *handle, const char *field, const float *array, uint64_t len)',
  XGDMatrixFree: 'int XGDMatrixFree(void *handle)',
  XGBoosterCreate: 'int XGBoosterCreate(void **dmats, uint64_t len, _Out_ void **out)',
  XGBoosterFree: 'int XGBoosterFree(void *handle)',
  XGBoosterSetParam: 'int XGBoosterSetParam(void *handle, const char *name, const char *value)',
  XGBoosterSetAttr: 'int XGBoosterSetAttr(void *handle, const char *key, const char *value)',
  XGBoosterUpdateOneIter: 'int XGBoosterUpdateOneIter(void *handle, int iter, void *dtrain)',
  XGBoosterEvalOneIter:
    'int XGBoosterEvalOneIter(void *handle, int iter, void **dmats, const char **names, uint64_t len, _Out_ const char **out)',
  XGBoosterBoostedRounds: 'int XGBoosterBoostedRounds(void *handle, _Out_ int *out)',
  XGBoosterSlice: 'int XGBoosterSlice(void *handle, int begin, int end, int step, _Out_ void **out)',
  XGBoosterSaveModelToBuffer:
    'int XGBoosterSaveModelToBuffer(void *handle, const char *config, _Out_ uint64_t *len, _Out_ void **out)',
  XGBoosterLoadModelFromBuffer: 'int XGBoosterLoadModelFromBuffer(void *handle, const uint8_t *buf, uint64_t len)',
  XGBoosterPredictFromDMatrix:
    'int XGBoosterPredictFromDMatrix(void *handle, void *dmat, const char *config, _Out_ void **shape, _Out_ uint64_t *dim, _Out_ void **result)',
} as const

type FunctionName = keyof typeof PROTOTYPES

/**
 * XGBoost's C API, loaded from one shared library through koffi.
 *
 * @remarks Every call is synchronous on the calling thread. That is deliberate:
 * `XGBGetLastError()` is thread-local, so an error raised on koffi's async worker thread
 * could not be read back, and OpenMP keeps one thread team per calling thread, so hopping
 * between worker threads would spawn extra teams. Callers yield to the event loop between
 * boosting rounds instead. Every status code is checked; a failure throws
 * {@link XgboostCallError} with XGBoost's own message.
 */
export class XgboostLibrary {
  /** The shared library's path. */
  readonly path: string
  /** How the path was found. */
  readonly source: XgboostLibrarySource
  /** `major.minor.patch` from `XGBoostVersion`. */
  readonly version: string
  /** `XGBuildInfo()` (USE_CUDA, USE_OPENMP, ...). */
  readonly buildInfo: Readonly<Record<string, unknown>>
  readonly #fn: Record<FunctionName, KoffiFunction>

  /** Opens `path`; throws {@link XgboostMissingError} when it is not a usable libxgboost. */
  constructor(path: string, source: XgboostLibrarySource = 'env') {
    this.path = path
    this.source = source
    let lib: ReturnType<Koffi['load']>
    try {
      lib = koffi().load(path)
    } catch (err) {
      throw new XgboostMissingError(`cannot load ${path} (${(err as Error).message})`, [path])
    }
    const fn: Partial<Record<FunctionName, KoffiFunction>> = {}
    for (const [name, proto] of Object.entries(PROTOTYPES) as [FunctionName, string][]) {
      try {
        fn[name] = lib.func(proto)
      } catch (err) {
        lib.unload()
        throw new XgboostMissingError(
          `${path} is not a usable libxgboost >= 1.7 (${name}: ${(err as Error).message})`,
          [path],
        )
      }
    }
    this.#fn = fn as Record<FunctionName, KoffiFunction>
    const major = [0]
    const minor = [0]
    const patch = [0]
    this.#fn.XGBoostVersion(major, minor, patch)
    this.version = `${major[0]}.${minor[0]}.${patch[0]}`
    const info: [string | null] = [null]
    this.#check('XGBuildInfo', this.#fn.XGBuildInfo(info))
    this.buildInfo = JSON.parse(info[0] ?? '{}') as Record<string, unknown>
  }

  /** Whether this build of XGBoost was compiled with CUDA. */
  get cuda(): boolean {
    return this.buildInfo.USE_CUDA === true
  }

  /**
   * A DMatrix over a row-major float32 matrix; NaN marks a missing value.
   * @remarks XGBoost copies the data, so `data` may be dropped afterwards.
   */
  createDMatrix(data: Float32Array, rows: number, cols: number, nthread: number): DMatrixHandle {
    if (data.length !== rows * cols) {
      throw new RangeError(`createDMatrix: ${data.length} values is not ${rows} rows x ${cols} columns`)
    }
    const out: [bigint | null] = [null]
    this.#check(
      'XGDMatrixCreateFromMat_omp',
      this.#fn.XGDMatrixCreateFromMat_omp(data, rows, cols, Number.NaN, out, nthread),
    )
    return out[0] as DMatrixHandle
  }

  /** Sets a float field of a DMatrix (`label`, `weight`...). */
  setFloatInfo(dmat: DMatrixHandle, field: string, values: Float32Array): void {
    this.#check('XGDMatrixSetFloatInfo', this.#fn.XGDMatrixSetFloatInfo(dmat, field, values, values.length))
  }

  /** Frees a DMatrix. */
  freeDMatrix(dmat: DMatrixHandle): void {
    this.#check('XGDMatrixFree', this.#fn.XGDMatrixFree(dmat))
  }

  /** A booster whose prediction cache covers `cache` (the train and eval matrices). */
  createBooster(cache: readonly DMatrixHandle[]): BoosterHandle {
    const out: [bigint | null] = [null]
    this.#check('XGBoosterCreate', this.#fn.XGBoosterCreate([...cache], cache.length, out))
    return out[0] as BoosterHandle
  }

  /** Frees a booster. */
  freeBooster(booster: BoosterHandle): void {
    this.#check('XGBoosterFree', this.#fn.XGBoosterFree(booster))
  }

  /** Sets one training parameter (XGBoost parses the string). */
  setParam(booster: BoosterHandle, name: string, value: string): void {
    this.#check('XGBoosterSetParam', this.#fn.XGBoosterSetParam(booster, name, value), ` (${name}=${value})`)
  }

  /** Sets a string attribute stored in the saved model (e.g. `best_iteration`). */
  setAttr(booster: BoosterHandle, key: string, value: string): void {
    this.#check('XGBoosterSetAttr', this.#fn.XGBoosterSetAttr(booster, key, value))
  }

  /** Runs one boosting round on `dtrain`. */
  updateOneIter(booster: BoosterHandle, iter: number, dtrain: DMatrixHandle): void {
    this.#check('XGBoosterUpdateOneIter', this.#fn.XGBoosterUpdateOneIter(booster, iter, dtrain))
  }

  /** Evaluates the metrics on `dmats`; XGBoost's text, e.g. `[3]\tval-mlogloss:0.41234`. */
  evalOneIter(booster: BoosterHandle, iter: number, dmats: readonly DMatrixHandle[], names: readonly string[]): string {
    const out: [string | null] = [null]
    this.#check(
      'XGBoosterEvalOneIter',
      this.#fn.XGBoosterEvalOneIter(booster, iter, [...dmats], [...names], dmats.length, out),
    )
    return out[0] ?? ''
  }

  /** Number of boosting rounds in the model. */
  boostedRounds(booster: BoosterHandle): number {
    const out = [0]
    this.#check('XGBoosterBoostedRounds', this.#fn.XGBoosterBoostedRounds(booster, out))
    return out[0]
  }

  /** A new booster holding rounds `[begin, end)` of `booster` (free it too). */
  slice(booster: BoosterHandle, begin: number, end: number): BoosterHandle {
    const out: [bigint | null] = [null]
    this.#check('XGBoosterSlice', this.#fn.XGBoosterSlice(booster, begin, end, 1, out))
    return out[0] as BoosterHandle
  }

  /** The model in XGBoost's JSON format (what `Booster.save_model("x.json")` writes). */
  saveModelJson(booster: BoosterHandle): Uint8Array {
    const len = [0]
    const ptr: [bigint | null] = [null]
    this.#check(
      'XGBoosterSaveModelToBuffer',
      this.#fn.XGBoosterSaveModelToBuffer(booster, '{"format":"json"}', len, ptr),
    )
    return this.#copyOut(ptr[0], Number(len[0]))
  }

  /** Loads a model saved by {@link saveModelJson} (or any XGBoost JSON/UBJSON model) into `booster`. */
  loadModel(booster: BoosterHandle, bytes: Uint8Array): void {
    this.#check('XGBoosterLoadModelFromBuffer', this.#fn.XGBoosterLoadModelFromBuffer(booster, bytes, bytes.length))
  }

  /**
   * Predicted probabilities (`multi:softprob`): rows x classes, row-major, from all
   * the rounds in `booster`.
   */
  predict(booster: BoosterHandle, dmat: DMatrixHandle): { values: Float32Array; shape: number[] } {
    const shapePtr: [bigint | null] = [null]
    const dim = [0]
    const result: [bigint | null] = [null]
    const config = '{"type":0,"training":false,"iteration_begin":0,"iteration_end":0,"strict_shape":false}'
    this.#check(
      'XGBoosterPredictFromDMatrix',
      this.#fn.XGBoosterPredictFromDMatrix(booster, dmat, config, shapePtr, dim, result),
    )
    const d = Number(dim[0])
    const shapeBytes = this.#copyOut(shapePtr[0], d * 8)
    const shapeView = new DataView(shapeBytes.buffer, shapeBytes.byteOffset, shapeBytes.byteLength)
    const shape: number[] = []
    for (let i = 0; i < d; i++) shape.push(Number(shapeView.getBigUint64(i * 8, true)))
    const count = shape.reduce((a, b) => a * b, 1)
    const bytes = this.#copyOut(result[0], count * 4)
    return { values: new Float32Array(bytes.buffer, bytes.byteOffset, count), shape }
  }

  /** Copies `len` bytes that XGBoost owns (and overwrites on the next call) into JS memory. */
  #copyOut(ptr: bigint | null, len: number): Uint8Array {
    if (len === 0) return new Uint8Array(0)
    if (ptr === null || ptr === 0n) throw new XgboostCallError('XGBoost', 'returned a null buffer')
    return new Uint8Array(koffi().view(ptr, len)).slice()
  }

  #check(fn: string, rc: number, context = ''): void {
    if (rc === 0) return
    const last = this.#fn.XGBGetLastError() as string | null
    throw new XgboostCallError(fn + context, last ?? '')
  }
}

/**
 * Makes OpenMP's idle threads sleep instead of spin, unless the user chose otherwise.
 *
 * @remarks libgomp reads `OMP_WAIT_POLICY` once, when XGBoost loads it, so this must run
 * before the first load. Spinning threads fight every other process for the cores: on
 * this 2-core machine with one other busy process, a 24k x 145, 30-round fit took
 * 49 s by default and 7 s with PASSIVE (4.7 s vs 9.7 s on a second, quieter pair of runs).
 * A worker always shares its host with the node process, so passive is the right default.
 */
function preferPassiveOpenMp(): void {
  if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = 'PASSIVE'
}

const opened = new Map<string, XgboostLibrary>()
/** The library found with default options, and the XGBOOST_LIBRARY it was found under. */
let defaultLibrary: { env: string | undefined; lib: XgboostLibrary } | undefined

/**
 * The XGBoost library of this host (see {@link findXgboostLibrary}), opened once per path.
 *
 * @remarks With default options a library once loaded is reused without searching again
 * (it stays mapped in this process) until `XGBOOST_LIBRARY` changes; a failed search is
 * repeated on the next call, so installing XGBoost later is picked up.
 * @throws {XgboostMissingError} naming where it looked and how to install it.
 */
export function loadXgboost(options: FindXgboostLibraryOptions = {}): XgboostLibrary {
  const defaults = options.env === undefined && options.libDirs === undefined && options.pythonPrefixes === undefined
  if (defaults && defaultLibrary !== undefined && defaultLibrary.env === process.env.XGBOOST_LIBRARY) {
    return defaultLibrary.lib
  }
  const lookup = findXgboostLibrary(options)
  if (!lookup.found) throw new XgboostMissingError(lookup.reason, lookup.searched)
  let lib = opened.get(lookup.path)
  if (lib === undefined) {
    preferPassiveOpenMp()
    lib = new XgboostLibrary(lookup.path, lookup.source)
    opened.set(lookup.path, lib)
  }
  if (defaults) defaultLibrary = { env: process.env.XGBOOST_LIBRARY, lib }
  return lib
}
