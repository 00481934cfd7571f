import type { Trainer } from '../types.ts'

/** tfjs neural trainer (not yet implemented). */
export const trainNeural: Trainer = async () => {
  throw new Error('neural training is not implemented yet')
}
