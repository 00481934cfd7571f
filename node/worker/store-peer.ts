import { appendFile, mkdir, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Logger } from 'pino'
import type { DerivedJob } from '../../crdt/index.ts'
import type { BlockService } from '../blocks/index.ts'

/** One line of `bundles/index.jsonl`. */
export interface BundleIndexEntry {
  job: string
  model: string
  mode: string
  cid: string
  bytes: number
  val_macro_f1: number | null
  test_macro_f1: number | null
  host: string | null
  completed_at: number | null
}

/** How the store peer paces itself. */
export interface StorePeerInit {
  /** `DATA_DIR/bundles/index.jsonl`. */
  readonly indexFile: string
  /** This peer's id (never asked for its own bundles). */
  readonly selfId: string
  /** @default 120000 */
  readonly fetchTimeoutMs?: number
  /** A failed fetch is tried again after this long. @default 15000 */
  readonly retryMs?: number
}

/**
 * What makes a peer a store peer (`--store`, the old receiver): it fetches and pins every
 * completed bundle, one at a time, and appends one line per bundle to `bundles/index.jsonl`.
 *
 * @remarks The index is read at start, so a restart does not fetch or list a bundle twice.
 * Fetches ask the job's owner first (it holds the bundle), then whoever has it; a failed
 * fetch (the owner is gone) is retried later.
 */
export class StorePeer {
  private readonly log: Logger
  private readonly blocks: BlockService
  private readonly init: Required<StorePeerInit>
  private readonly done = new Set<string>()
  private readonly queued = new Map<string, DerivedJob>()
  private readonly retryAt = new Map<string, number>()
  private running: Promise<void> | null = null
  private readonly controller = new AbortController()

  constructor(components: { blocks: BlockService; logger: Logger }, init: StorePeerInit) {
    this.blocks = components.blocks
    this.log = components.logger
    this.init = { fetchTimeoutMs: 120_000, retryMs: 15_000, ...init }
  }

  /** Reads the index: bundles already listed are not fetched again. */
  async start(): Promise<void> {
    await mkdir(dirname(this.init.indexFile), { recursive: true, mode: 0o700 })
    let text = ''
    try {
      text = await readFile(this.init.indexFile, 'utf8')
    } catch {}
    for (const line of text.split('\n')) {
      try {
        const e = JSON.parse(line) as Partial<BundleIndexEntry>
        if (typeof e.cid === 'string' && typeof e.job === 'string') this.done.add(`${e.job}/${e.cid}`)
      } catch {}
    }
  }

  /** Bundles pinned and listed so far. */
  get pinned(): number {
    return this.done.size
  }

  /** Offers jobs whose state changed: completed ones with a bundle not yet held are fetched. */
  offer(jobs: Iterable<DerivedJob>): void {
    for (const j of jobs) {
      if (j.status !== 'completed' || j.bundle === null) continue
      const key = `${j.id}/${j.bundle}`
      if (this.done.has(key) || this.queued.has(key)) continue
      this.queued.set(key, j)
    }
    this.kick()
  }

  private kick(): void {
    if (this.running !== null || this.queued.size === 0 || this.controller.signal.aborted) return
    this.running = this.drain()
      .catch((err) => this.log.error({ err }, 'store peer failed'))
      .finally(() => {
        this.running = null
        if (this.queued.size > 0) setTimeout(() => this.kick(), 1000).unref()
      })
  }

  private async drain(): Promise<void> {
    this.log.debug({ queued: this.queued.size }, 'fetching bundles')
    for (const [key, job] of [...this.queued]) {
      if (this.controller.signal.aborted) return
      if ((this.retryAt.get(key) ?? 0) > Date.now()) continue
      const cid = job.bundle as string
      this.log.info({ job: job.id.slice(0, 12), cid }, 'fetching a bundle')
      let bytes = 0
      try {
        await this.blocks.fetch(cid, {
          signal: this.controller.signal,
          timeoutMs: this.init.fetchTimeoutMs,
          providers: job.owner === null || job.owner === this.init.selfId ? [] : [job.owner],
          onProgress: (_blocks, b) => {
            bytes = b
          },
        })
        await this.blocks.pin(cid)
      } catch (err) {
        if (this.controller.signal.aborted) return
        this.retryAt.set(key, Date.now() + this.init.retryMs)
        this.log.warn({ job: job.id.slice(0, 12), cid, err: (err as Error).message }, 'bundle fetch failed; will retry')
        continue
      }
      const entry: BundleIndexEntry = {
        job: job.id,
        model: job.spec.model,
        mode: job.spec.mode,
        cid,
        bytes,
        val_macro_f1: job.valMacroF1,
        test_macro_f1: job.testMacroF1,
        host: job.host,
        completed_at: job.updatedAt,
      }
      await appendFile(this.init.indexFile, `${JSON.stringify(entry)}\n`)
      this.done.add(key)
      this.queued.delete(key)
      this.retryAt.delete(key)
      this.log.info({ job: job.id.slice(0, 12), cid, bytes }, 'pinned a bundle')
    }
  }

  /** Stops fetching (a fetch in flight is aborted). */
  async stop(): Promise<void> {
    this.controller.abort()
    await this.running
  }
}
