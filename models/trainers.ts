import type { ModelName } from './registry/index.ts'
import type { Trainer } from './types.ts'

/**
 * Loads a model's trainer on demand, so that a host without XGBoost or tfjs can still
 * run the others (and the CLI starts fast).
 */
export async function loadTrainer(model: ModelName): Promise<Trainer> {
  switch (model) {
    case 'gbt':
      return (await import('./gbt/train.ts')).trainGbt
    case 'knn':
      return (await import('./knn/train.ts')).trainKnn
    case 'knn_semi':
      return (await import('./knn/train-semi.ts')).trainKnnSemi
    case 'mlp':
    case 'cnn':
    case 'gru':
    case 'lstm':
    case 'transformer':
      return (await import('./neural/train.ts')).trainNeural
  }
}
