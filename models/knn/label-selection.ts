import { uniformHash } from '../split.ts'
import type { Dataset } from '../types.ts'

/** Train rows split into labelled and unlabelled, as positions into the train row list. */
export interface LabelSelection {
  readonly labelled: Int32Array
  readonly unlabelled: Int32Array
}

/**
 * The contract's knn_semi rule: train row r is labelled when
 * `u("{seed}:label:{host}:{episode}:{window}") < label_frac`.
 * Returns positions into `trainRows` (ascending).
 */
export function selectLabelled(data: Dataset, trainRows: Int32Array, seed: number, labelFrac: number): LabelSelection {
  const labelled: number[] = []
  const unlabelled: number[] = []
  for (let p = 0; p < trainRows.length; p++) {
    const r = trainRows[p]
    const key = `${seed}:label:${data.hosts[data.hostOf[r]]}:${data.episodes[data.episodeOf[r]]}:${data.window[r]}`
    ;(uniformHash(key) < labelFrac ? labelled : unlabelled).push(p)
  }
  return { labelled: Int32Array.from(labelled), unlabelled: Int32Array.from(unlabelled) }
}
