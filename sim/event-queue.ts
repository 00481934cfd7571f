import { MinHeap } from '../crdt/index.ts'

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
  private readonly heap = new MinHeap<Slot<E>>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq))
  private seq = 0
  private clock = 0

  /** Virtual time, ms: the time of the event being handled. */
  get now(): number {
    return this.clock
  }

  get size(): number {
    return this.heap.size
  }

  /** Schedules `event` at virtual time `at` (never before now). */
  push(at: number, event: E): void {
    this.heap.push({ at: Math.max(at, this.clock), seq: this.seq++, event })
  }

  /** Removes the next event and advances the clock to it; undefined when empty. */
  pop(): E | undefined {
    const top = this.heap.pop()
    if (top === undefined) return undefined
    this.clock = top.at
    return top.event
  }

  /** Time of the next event, or undefined. */
  peekTime(): number | undefined {
    return this.heap.peek()?.at
  }
}
