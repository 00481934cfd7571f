/** A bundle that cannot be written, read or applied: names the bundle and what is wrong. */
export class BundleError extends Error {
  override name = 'BundleError'
}

/** A bundle applied to a dataset of another schema (features in mode order + classes). */
export class SchemaMismatchError extends BundleError {
  override name = 'SchemaMismatchError'
}
