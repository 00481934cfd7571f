import { SeededRandom } from '../../models/neural/prng.ts'
import type { Dataset } from '../../models/types.ts'
import { gridDataset } from '../helpers/memory-dataset.ts'

/** Options of {@link makeSequenceDataset}. */
export interface SequenceDatasetOptions {
  readonly hosts?: number
  readonly episodesPerHost?: number
  readonly windows?: number
  readonly features?: number
  readonly classes?: number
  /** Noise std in units of the class-mean spread; larger is harder. */
  readonly noise?: number
  readonly seed?: number
}

/**
 * An in-memory dataset of class-conditional gaussians with temporal structure: each
 * episode has one label, feature j of class c has mean `mu[c][j]`, and the noise is
 * AR(1) across an episode's windows (so neighbouring windows are alike and averaging
 * over a sequence helps). Episode names repeat across hosts (`ep0`, `ep1`, ...), as
 * real episode names may; every 7th cell of feature 0 is missing.
 */
export function makeSequenceDataset(opts: SequenceDatasetOptions = {}): Dataset {
  const H = opts.hosts ?? 2
  const E = opts.episodesPerHost ?? 30
  const W = opts.windows ?? 20
  const F = opts.features ?? 12
  const C = opts.classes ?? 4
  const noise = opts.noise ?? 1.2
  const rng = new SeededRandom(opts.seed ?? 1)
  const uniform = () => (rng.nextUint32() + 0.5) / 2 ** 32
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform())
  const mu = Float64Array.from({ length: C * F }, () => normal())
  const rows = H * E * W
  const X = new Float32Array(rows * F)
  const y = new Int32Array(rows)
  const episodes = Array.from({ length: E }, (_, e) => `ep${String(e).padStart(3, '0')}`)
  const rho = 0.8
  let r = 0
  for (let h = 0; h < H; h++) {
    for (let e = 0; e < E; e++) {
      // Skewed prior so that the majority baseline is not trivially balanced.
      const c = uniform() < 0.4 ? 0 : 1 + rng.nextInt(C - 1)
      const state = Float64Array.from({ length: F }, () => normal())
      for (let w = 0; w < W; w++, r++) {
        for (let j = 0; j < F; j++) {
          state[j] = rho * state[j] + Math.sqrt(1 - rho * rho) * normal()
          X[r * F + j] = 10 * (mu[c * F + j] + noise * state[j]) + 3 * j
        }
        if (r % 7 === 0) X[r * F] = Number.NaN
        y[r] = c
      }
    }
  }
  const features = Array.from({ length: F }, (_, j) => `f${j}`)
  const classes = Array.from({ length: C }, (_, c) => `class${c}`)
  return gridDataset({
    name: 'neural-test',
    hosts: Array.from({ length: H }, (_, h) => `host${h}`),
    episodes,
    windows: W,
    features,
    classes,
    X,
    y,
  })
}
