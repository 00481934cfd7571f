/**
 * Interns strings to dense ids in first-seen order, then ranks them in sorted order.
 *
 * @remarks Sorting is by UTF-16 code units (JavaScript's default), which equals
 * Python's code-point order for every name outside the astral planes.
 */
export class Interner {
  private readonly ids = new Map<string, number>()
  readonly names: string[] = []

  /** The id of `name`, assigning the next one on first sight. */
  id(name: string): number {
    let id = this.ids.get(name)
    if (id === undefined) {
      id = this.names.length
      this.ids.set(name, id)
      this.names.push(name)
    }
    return id
  }

  /** The names sorted, and `rank[id]` = position of name `id` in that list. */
  sorted(): { names: string[]; rank: Int32Array } {
    const order = this.names.map((_, i) => i).sort((a, b) => compareStrings(this.names[a], this.names[b]))
    const rank = new Int32Array(order.length)
    order.forEach((id, pos) => {
      rank[id] = pos
    })
    return { names: order.map((i) => this.names[i]), rank }
  }
}

/** Code-unit string order (what `Array.prototype.sort` uses by default). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Replaces each id in `ids` by `rank[id]`, in place. */
export function applyRank(ids: Int32Array, rank: Int32Array): void {
  for (let i = 0; i < ids.length; i++) ids[i] = rank[ids[i]]
}

/**
 * The row order by (host, episode, window) ranks: `null` when the rows already are in
 * that order, else `order[i]` = the source row of destination row `i`.
 * @returns also the first pair of equal keys (source rows), when any.
 */
export function rowOrder(
  host: Int32Array,
  episode: Int32Array,
  window: Int32Array,
): { order: Int32Array | null; duplicate?: [number, number] } {
  const n = host.length
  const cmp = (a: number, b: number) => host[a] - host[b] || episode[a] - episode[b] || window[a] - window[b]
  let sorted = true
  for (let i = 1; i < n; i++) {
    const c = cmp(i - 1, i)
    if (c === 0) return { order: null, duplicate: [i - 1, i] }
    if (c > 0) {
      sorted = false
      break
    }
  }
  if (sorted) return { order: null }
  const order = new Int32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  order.sort(cmp)
  for (let i = 1; i < n; i++) {
    if (cmp(order[i - 1], order[i]) === 0) return { order, duplicate: [order[i - 1], order[i]] }
  }
  return { order }
}

/** `out[i] = src[order[i]]`. */
export function gather(src: Int32Array, order: Int32Array): Int32Array {
  const out = new Int32Array(order.length)
  for (let i = 0; i < order.length; i++) out[i] = src[order[i]]
  return out
}

/**
 * Permutes the rows of a row-major matrix in place (`row i` becomes old `row order[i]`)
 * by following cycles, so a 600 MB matrix is reordered with one spare row, not a copy.
 */
export function permuteRowsInPlace(X: Float32Array, width: number, order: Int32Array): void {
  const n = order.length
  const done = new Uint8Array(n)
  const tmp = new Float32Array(width)
  for (let i = 0; i < n; i++) {
    if (done[i] === 1) continue
    if (order[i] === i) {
      done[i] = 1
      continue
    }
    tmp.set(X.subarray(i * width, (i + 1) * width))
    let j = i
    while (true) {
      const k = order[j]
      done[j] = 1
      if (k === i) {
        X.set(tmp, j * width)
        break
      }
      X.copyWithin(j * width, k * width, (k + 1) * width)
      j = k
    }
  }
}
