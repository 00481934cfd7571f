import type { Trainer } from '../types.ts'

/** XGBoost trainer (not yet implemented). */
export const trainGbt: Trainer = async () => {
  throw new Error('gbt training is not implemented yet')
}
