import { basename } from 'node:path'
import { modeNames, selectFeatures } from './config.ts'
import { loadDatasetKeys, readDatasetLayout } from './load.ts'
import { schemaHash } from './schema-hash.ts'

/** What `cis490-node dataset info --json` prints (snake_case, CONTRACTS §6). */
export interface DatasetInfo {
  readonly dir: string
  readonly name: string
  /** Data file names. */
  readonly files: string[]
  readonly windows: number
  readonly episodes: number
  readonly hosts: { host: string; episodes: number; windows: number }[]
  readonly classes: { name: string; windows: number }[]
  /** All feature columns (every mode is a subset). */
  readonly features: number
  readonly modes: { name: string; features: number; schema_hash: string }[]
}

/**
 * Summarises a dataset: hosts, episodes and windows (per host too), classes, and each
 * mode's feature count and schema hash. Reads the key columns only, not the features.
 */
export async function datasetInfo(dir: string, opts: { signal?: AbortSignal } = {}): Promise<DatasetInfo> {
  const layout = await readDatasetLayout(dir, opts.signal)
  const keys = await loadDatasetKeys(dir, { signal: opts.signal })
  const perHost = keys.hosts.map((host) => ({ host, episodes: new Set<number>(), windows: 0 }))
  const classWindows = new Array<number>(keys.classes.length).fill(0)
  for (let r = 0; r < keys.rows; r++) {
    const h = perHost[keys.hostOf[r]]
    h.windows++
    h.episodes.add(keys.episodeOf[r])
    classWindows[keys.y[r]]++
  }
  const configFile = `${dir}/dataset.toml`
  return {
    dir,
    name: layout.config.name,
    files: layout.files.map((f) => basename(f)),
    windows: keys.rows,
    episodes: perHost.reduce((n, h) => n + h.episodes.size, 0),
    hosts: perHost.map((h) => ({ host: h.host, episodes: h.episodes.size, windows: h.windows })),
    classes: keys.classes.map((name, c) => ({ name, windows: classWindows[c] })),
    features: layout.featureColumns.length,
    modes: modeNames(layout.config).map((name) => {
      const features = selectFeatures(layout.config, name, layout.featureColumns, configFile)
      return { name, features: features.length, schema_hash: schemaHash(features, keys.classes) }
    }),
  }
}
