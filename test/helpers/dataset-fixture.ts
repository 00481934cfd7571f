import { DEFAULT_SYNTH, type SynthOptions, type SynthSummary, synthesizeDataset } from '../../models/dataset/synth.ts'

/**
 * Small, fast defaults for test datasets: the real host names (so `test_hosts =
 * ["k-gamingcom"]` works), 2 x 12 episodes x 6 windows = 144 rows, 16 features of which
 * 10 realistic (6 `oracle_*`), 3 classes.
 */
export const FIXTURE_DEFAULTS = {
  hosts: DEFAULT_SYNTH.hosts,
  episodes: 12,
  windows: 6,
  features: 16,
  realisticFeatures: 10,
  classes: 3,
  seed: 0,
  format: 'csv',
} as const satisfies SynthOptions

/**
 * Writes a small synthetic dataset (dataset.toml with modes `oracle` and `realistic`,
 * one file per host) into `dir`, which must be missing or empty.
 *
 * @remarks Deterministic: the same options give the same bytes. Any option of
 * `cis490-node dataset synth` can be overridden, e.g. `{ episodes: 40, format: 'parquet' }`.
 * Load it with `loadDataset(dir, 'realistic')` from models/dataset/index.ts.
 */
export function makeSyntheticDataset(dir: string, opts: SynthOptions = {}): Promise<SynthSummary> {
  return synthesizeDataset(dir, { ...FIXTURE_DEFAULTS, ...opts })
}
