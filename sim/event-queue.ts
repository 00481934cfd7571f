interface Slot<E> {
  at: number
  seq: number
  event: E
}

/**
 * The simulator's virtual clock and agenda: a binary min-heap of events by (time, insertion order).
 * @remarks Ties run in the order they were scheduled, so a run is a pure function of its seed.
 */
export class EventQueue<E> {
  private readonly heap: Slot<E>[] = []
  private seq = 0
  private clock = 0

  /** Virtual time, ms: the time of the event being handled. */
  get now(): number {
    return this.clock
  }

  get size(): number {
    return this.heap.length
  }

  /** Schedules `event` at virtual time `at` (never before now). */
  push(at: number, event: E): void {
    const h = this.heap
    h.push({ at: Math.max(at, this.clock), seq: this.seq++, event })
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(h[i], h[p])) break
      ;[h[p], h[i]] = [h[i], h[p]]
      i = p
    }
  }

  /** Removes the next event and advances the clock to it; undefined when empty. */
  pop(): E | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const top = h[0]
    const last = h.pop() as Slot<E>
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && less(h[l], h[m])) m = l
        if (r < h.length && less(h[r], h[m])) m = r
        if (m === i) break
        ;[h[m], h[i]] = [h[i], h[m]]
        i = m
      }
    }
    this.clock = top.at
    return top.event
  }

  /** Time of the next event, or undefined. */
  peekTime(): number | undefined {
    return this.heap.length > 0 ? this.heap[0].at : undefined
  }
}

function less<E>(a: Slot<E>, b: Slot<E>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}
