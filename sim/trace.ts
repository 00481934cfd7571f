/** One thing that happened in a run, for the report of a violated invariant. */
export interface TraceEvent {
  /** Virtual ms. */
  readonly at: number
  /** Peer index, or -1 for the network and the operator. */
  readonly peer: number
  readonly kind: string
  readonly job?: string
  readonly detail?: string
}

/** Formats a trace event as one line. */
export function formatTraceEvent(e: TraceEvent): string {
  const who = e.peer < 0 ? 'net' : `p${String(e.peer).padStart(3, '0')}`
  const job = e.job === undefined ? '' : ` ${e.job.slice(0, 12)}`
  const detail = e.detail === undefined ? '' : ` ${e.detail}`
  return `t=${(e.at / 1000).toFixed(3)}s ${who} ${e.kind}${job}${detail}`
}

/**
 * A bounded log of the significant events of a run (transitions, runs, faults, operator
 * commands): enough to explain a violation without keeping every message.
 */
export class Trace {
  private readonly events: TraceEvent[] = []
  private readonly cap: number
  private start = 0

  constructor(cap = 50_000) {
    this.cap = cap
  }

  add(e: TraceEvent): void {
    if (this.events.length < this.cap) this.events.push(e)
    else {
      this.events[this.start] = e
      this.start = (this.start + 1) % this.cap
    }
  }

  /** The last `limit` events about `job` or `peers`, plus fleet-wide faults (crashes, partitions), up to now. */
  related(opts: { job?: string; peers?: readonly number[]; limit?: number }): string[] {
    const limit = opts.limit ?? 40
    const out: TraceEvent[] = []
    const n = this.events.length
    for (let k = n - 1; k >= 0 && out.length < limit; k--) {
      const e = this.events[(this.start + k) % n]
      const aboutJob = opts.job !== undefined && e.job === opts.job
      const aboutPeer = opts.peers?.includes(e.peer) === true && e.job === undefined
      const global = e.peer < 0 && e.job === undefined
      if (aboutJob || aboutPeer || global) out.push(e)
    }
    return out.reverse().map(formatTraceEvent)
  }
}
