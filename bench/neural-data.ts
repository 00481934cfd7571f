import { SeededRandom } from '../models/neural/prng.ts'
import type { Dataset } from '../models/types.ts'
import { gridDataset } from '../test/helpers/memory-dataset.ts'

/** Shape of a benchmark dataset. */
export interface BenchDataOptions {
  readonly hosts: number
  readonly episodesPerHost: number
  readonly windows: number
  readonly features: number
  readonly classes: number
  readonly seed?: number
}

/**
 * Telemetry-shaped data for the neural benchmarks, built in memory: one label per
 * episode, class-dependent means in a third of the features, AR(1) noise within an
 * episode, per-feature scales from 0.1 to 100, 1% missing cells.
 */
export function makeBenchDataset(o: BenchDataOptions): Dataset {
  const { hosts: H, episodesPerHost: E, windows: W, features: F, classes: C } = o
  const rng = new SeededRandom(o.seed ?? 7)
  const u = () => (rng.nextUint32() + 0.5) / 2 ** 32
  // Box-Muller, both outputs used: the full-scale set needs ~100M normals.
  let spare = Number.NaN
  const normal = () => {
    if (!Number.isNaN(spare)) {
      const s = spare
      spare = Number.NaN
      return s
    }
    const r = Math.sqrt(-2 * Math.log(u()))
    const t = 2 * Math.PI * u()
    spare = r * Math.sin(t)
    return r * Math.cos(t)
  }
  const mu = Float64Array.from({ length: C * F }, (_, i) => ((i % F) % 3 === 0 ? normal() : 0))
  const scale = Float64Array.from({ length: F }, () => 10 ** (4 * u() - 1))
  const rows = H * E * W
  const X = new Float32Array(rows * F)
  const y = new Int32Array(rows)
  const state = new Float64Array(F)
  const rho = 0.8
  const innov = Math.sqrt(1 - rho * rho)
  let r = 0
  for (let h = 0; h < H; h++) {
    for (let e = 0; e < E; e++) {
      const c = rng.nextInt(C)
      for (let j = 0; j < F; j++) state[j] = normal()
      for (let w = 0; w < W; w++, r++) {
        const off = r * F
        for (let j = 0; j < F; j++) {
          state[j] = rho * state[j] + innov * normal()
          X[off + j] = u() < 0.01 ? Number.NaN : scale[j] * (mu[c * F + j] + state[j])
        }
        y[r] = c
      }
    }
  }
  const features = Array.from({ length: F }, (_, j) => `f${j}`)
  const classes = Array.from({ length: C }, (_, c) => `c${c}`)
  return gridDataset({
    name: 'neural-bench',
    hosts: Array.from({ length: H }, (_, h) => `host${h}`),
    episodes: Array.from({ length: E }, (_, e) => `ep${String(e).padStart(4, '0')}`),
    windows: W,
    features,
    classes,
    X,
    y,
  })
}
