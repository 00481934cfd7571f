import type { Trainer } from '../types.ts'

/** KNN trainer (not yet implemented). */
export const trainKnn: Trainer = async () => {
  throw new Error('knn training is not implemented yet')
}
