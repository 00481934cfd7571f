import type { JobSpec } from '../manifests/index.ts'

/**
 * A dataset in one feature mode, held in flat typed arrays.
 *
 * @remarks No per-row objects: 660k windows x 230 features is ~600 MB of float32 and
 * must fit. Rows are ordered by (host, episode, window).
 */
export interface Dataset {
  /** `name` from dataset.toml. */
  readonly name: string
  /** The feature mode this view was loaded in. */
  readonly mode: string
  /** Feature names in mode order. */
  readonly features: readonly string[]
  /** Sorted label strings; `y` indexes into them. */
  readonly classes: readonly string[]
  readonly rows: number
  /** rows x features.length, row-major; NaN = missing. */
  readonly X: Float32Array
  /** Class index per row. */
  readonly y: Int32Array
  /** Distinct host names (sorted); `hostOf[row]` indexes into them. */
  readonly hosts: readonly string[]
  readonly hostOf: Int32Array
  /** Distinct episode names (sorted); `episodeOf[row]` indexes into them. */
  readonly episodes: readonly string[]
  readonly episodeOf: Int32Array
  /** `window` value per row. */
  readonly window: Int32Array
  /** sha256 hex of JSON `[features, classes]`. */
  readonly schemaHash: string
}

/** Row indices (ascending) of each part of a split. */
export interface Split {
  readonly train: Int32Array
  readonly val: Int32Array
  readonly test: Int32Array
}

/** Per-feature standardisation fitted on the train rows (population std, 0 -> 1). */
export interface Scaler {
  readonly mean: Float32Array
  readonly std: Float32Array
}

/** Everything a model's trainer gets. */
export interface TrainContext {
  /** The job, with `hyper` defaults filled. */
  readonly job: JobSpec
  readonly data: Dataset
  readonly split: Split
  readonly scaler: Scaler
  /** One line of progress for stderr (rounds, val loss, epochs...). */
  readonly progress: (line: string) => void
  readonly signal: AbortSignal
  /** `--backend` override for tfjs models. */
  readonly backend?: string
}

/** What a trainer returns: the model files and its predictions on val and test. */
export interface TrainedModel {
  /** Bundle-relative file name -> bytes (e.g. `model.xgb.json`). */
  readonly files: ReadonlyMap<string, Uint8Array>
  /** Predicted class index per val row, in `split.val` order. */
  readonly valPred: Int32Array
  /** Predicted class index per test row, in `split.test` order. */
  readonly testPred: Int32Array
  /** Model-specific metrics merged into bundle.json's `metrics` (deterministic values only). */
  readonly extraMetrics?: Readonly<Record<string, unknown>>
  /** Model-specific, deterministic facts for bundle.json (e.g. best iteration, seq_len). */
  readonly extraBundle?: Readonly<Record<string, unknown>>
  /** Non-deterministic run facts for the job's result record (backend, cuda, predict seconds). */
  readonly runInfo?: Readonly<Record<string, unknown>>
  /** Text for the bundle README on how to load these files without this project. */
  readonly readme: string
}

/** A model's training function. */
export type Trainer = (ctx: TrainContext) => Promise<TrainedModel>
