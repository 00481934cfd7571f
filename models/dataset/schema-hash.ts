import { createHash } from 'node:crypto'

/**
 * The contract's schema hash: sha256 hex of `JSON.stringify([features, classes])`
 * (features in mode order, classes sorted; no spaces).
 */
export function schemaHash(features: readonly string[], classes: readonly string[]): string {
  return createHash('sha256')
    .update(JSON.stringify([features, classes]), 'utf8')
    .digest('hex')
}
