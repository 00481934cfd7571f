import type { Trainer } from '../types.ts'

/** Semi-supervised KNN trainer (not yet implemented). */
export const trainKnnSemi: Trainer = async () => {
  throw new Error('knn_semi training is not implemented yet')
}
