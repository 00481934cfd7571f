/**
 * A binary min-heap ordered by `less`.
 *
 * @remarks Lives in crdt/ (the lowest folder) because both the incremental derived table's
 * lease deadlines and the simulator's event agenda need one; equal elements pop in an
 * order fixed by the push sequence, so users stay deterministic.
 */
export class MinHeap<T> {
  private readonly items: T[] = []
  private readonly less: (a: T, b: T) => boolean

  constructor(less: (a: T, b: T) => boolean) {
    this.less = less
  }

  get size(): number {
    return this.items.length
  }

  /** The smallest element, or undefined when empty. */
  peek(): T | undefined {
    return this.items[0]
  }

  push(item: T): void {
    const h = this.items
    h.push(item)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i], h[p])) break
      ;[h[p], h[i]] = [h[i], h[p]]
      i = p
    }
  }

  /** Removes and returns the smallest element, or undefined when empty. */
  pop(): T | undefined {
    const h = this.items
    if (h.length === 0) return undefined
    const top = h[0]
    const last = h.pop() as T
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.less(h[l], h[m])) m = l
        if (r < h.length && this.less(h[r], h[m])) m = r
        if (m === i) break
        ;[h[m], h[i]] = [h[i], h[m]]
        i = m
      }
    }
    return top
  }
}
