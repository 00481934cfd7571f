import { schemaHash } from '../../models/dataset/index.ts'
import type { Dataset } from '../../models/types.ts'

/** The parts of an in-memory dataset a generator decides; the rest follows from the grid. */
export interface GridDatasetInit {
  readonly name: string
  readonly hosts: readonly string[]
  /** Episode names, the same list for every host. */
  readonly episodes: readonly string[]
  /** Windows per episode. */
  readonly windows: number
  readonly features: readonly string[]
  readonly classes: readonly string[]
  /** hosts x episodes x windows rows, ordered by (host, episode, window), row-major. */
  readonly X: Float32Array
  readonly y: Int32Array
}

/**
 * A `Dataset` whose rows are every (host, episode, window) of a full grid in load order:
 * fills the host, episode and window indices, the row count and the schema hash.
 */
export function gridDataset(init: GridDatasetInit): Dataset {
  const { hosts, episodes, windows, features } = init
  const rows = hosts.length * episodes.length * windows
  if (init.y.length !== rows || init.X.length !== rows * features.length) {
    throw new Error(`gridDataset: expected ${rows} rows of ${features.length} features`)
  }
  const hostOf = new Int32Array(rows)
  const episodeOf = new Int32Array(rows)
  const window = new Int32Array(rows)
  for (let r = 0; r < rows; r++) {
    window[r] = r % windows
    episodeOf[r] = Math.floor(r / windows) % episodes.length
    hostOf[r] = Math.floor(r / (windows * episodes.length))
  }
  return {
    name: init.name,
    mode: 'realistic',
    features,
    classes: init.classes,
    rows,
    X: init.X,
    y: init.y,
    hosts,
    hostOf,
    episodes,
    episodeOf,
    window,
    schemaHash: schemaHash(features, init.classes),
  }
}

/** mulberry32: a tiny seeded uniform [0, 1) generator, so fixtures are the same on every run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
