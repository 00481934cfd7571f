import type { Logger } from 'pino'
import type { FetchJson as FetchState } from '../api/block-routes.ts'
import { type BlockService, parseCid } from '../blocks/index.ts'

/** Options of a {@link FetchTracker}. */
export interface FetchTrackerInit {
  /**
   * Finished fetches remembered for `GET /v1/fetch/{cid}` (the oldest are forgotten first).
   * @default 64
   */
  readonly keep?: number
}

/** Options of one {@link FetchTracker.start}. */
export interface TrackedFetchOptions {
  /** The whole fetch fails after this long. */
  readonly timeoutMs?: number
  /** Peers asked first (the job's owner, the store peers); every connected peer is asked too. */
  readonly providers?: readonly string[]
}

/**
 * The node's fetches on behalf of the CLI (`cis490-node fetch`): a DAG fetched over bitswap
 * into the block store (every block hashed), then pinned, with progress the CLI polls.
 *
 * @remarks Polling rather than a streamed answer: a CLI that goes away does not abort a fetch
 * half done (the node finishes and pins it), and a second `fetch` of the same CID joins the one
 * running. A failed fetch is started again by the next request.
 */
export class FetchTracker {
  private readonly blocks: BlockService
  private readonly log: Logger
  private readonly keep: number
  private readonly fetches = new Map<string, FetchState>()
  private readonly controller = new AbortController()

  constructor(components: { blocks: BlockService; logger: Logger }, init: FetchTrackerInit = {}) {
    this.blocks = components.blocks
    this.log = components.logger
    this.keep = init.keep ?? 64
  }

  /**
   * Starts fetching `cid` (or joins the fetch in progress, or reports the one done).
   * @throws BadCidError naming the input.
   */
  start(cid: string, options: TrackedFetchOptions = {}): FetchState {
    const root = parseCid(cid).toString()
    const known = this.fetches.get(root)
    if (known !== undefined && known.state !== 'failed') return { ...known }
    const state: FetchState = {
      cid: root,
      state: 'fetching',
      blocks: 0,
      blocks_known: 1,
      bytes: 0,
      error: null,
      started_at: Date.now(),
      ended_at: null,
    }
    this.fetches.delete(root)
    this.fetches.set(root, state)
    this.forgetOld()
    void this.run(state, options).catch((err) => this.log.error({ err, cid: root }, 'fetch bookkeeping failed'))
    return { ...state }
  }

  /** The state of the latest fetch of `cid`, or null when there was none. */
  status(cid: string): FetchState | null {
    const s = this.fetches.get(parseCid(cid).toString())
    return s === undefined ? null : { ...s }
  }

  /** Aborts every fetch in progress. */
  stop(): void {
    this.controller.abort()
  }

  private async run(state: FetchState, options: TrackedFetchOptions): Promise<void> {
    try {
      await this.blocks.fetch(state.cid, {
        signal: this.controller.signal,
        timeoutMs: options.timeoutMs,
        providers: [...(options.providers ?? [])],
        onProgress: (blocks, bytes, known) => {
          state.blocks = blocks
          state.bytes = bytes
          state.blocks_known = known
        },
      })
      await this.blocks.pin(state.cid)
      state.state = 'done'
      this.log.info({ cid: state.cid, blocks: state.blocks, bytes: state.bytes }, 'fetched and pinned for the CLI')
    } catch (err) {
      state.state = 'failed'
      state.error = (err as Error).message
      this.log.warn({ cid: state.cid, err: state.error }, 'fetch for the CLI failed')
    } finally {
      state.ended_at = Date.now()
    }
  }

  private forgetOld(): void {
    for (const [cid, s] of this.fetches) {
      if (this.fetches.size <= this.keep) return
      if (s.state !== 'fetching') this.fetches.delete(cid)
    }
  }
}
