/**
 * 2-space JSON text of an object whose key order the caller fixed, nested values as
 * given (sort what comes from outside with {@link sortKeys} first).
 * @throws TypeError on values JSON cannot represent faithfully (NaN, Infinity, bigint, functions).
 */
export function stableJson(value: Readonly<Record<string, unknown>>): string {
  sortKeys(value)
  return `${JSON.stringify(value, null, 2)}\n`
}

/** A deep copy of `value` with object keys sorted (code-unit order). */
export function sortKeys(value: unknown, path = ''): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} cannot be written as JSON`)
    return value
  }
  if (Array.isArray(value)) return value.map((v, i) => sortKeys(v, `${path}[${i}]`))
  if (ArrayBuffer.isView(value) && !(value instanceof DataView))
    return Array.from(value as unknown as ArrayLike<number>, (v, i) => sortKeys(v, `${path}[${i}]`))
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k]
      if (v !== undefined) out[k] = sortKeys(v, path === '' ? k : `${path}.${k}`)
    }
    return out
  }
  throw new TypeError(`${path}: a ${typeof value} cannot be written as JSON`)
}
