import { randomBytes } from 'node:crypto'
import { rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { datasetInfo } from '../../models/dataset/index.ts'
import type { BlockService } from '../blocks/index.ts'

/** Options of a {@link DatasetCache}. */
export interface DatasetCacheInit {
  /** The dataset's root CID (the fleet's `dataset`). */
  readonly cid: string
  /** Where fetched datasets are kept, one directory per CID (`DATA_DIR/datasets`). */
  readonly dir: string
  /**
   * How long one fetch of the dataset may take.
   * @default 600000 (10 min)
   */
  readonly fetchTimeoutMs?: number
}

/**
 * The fleet dataset given by CID: fetched from the fleet, pinned, exported as files to
 * `DATA_DIR/datasets/<CID>` and checked to be a dataset, once; then every run trains on that
 * directory.
 *
 * @remarks The export goes to a hidden temporary sibling and is renamed into place only after
 * `datasetInfo` read it (dataset.toml, every file's key columns), so `datasets/<CID>` existing
 * means a checked, complete copy: a restart uses it without fetching. Concurrent callers share
 * one fetch; a failed fetch is tried again by the next caller.
 */
export class DatasetCache {
  private readonly blocks: BlockService
  private readonly log: Logger
  private readonly init: Required<DatasetCacheInit>
  private pending: Promise<string> | null = null
  private readonly controller = new AbortController()

  constructor(components: { blocks: BlockService; logger: Logger }, init: DatasetCacheInit) {
    this.blocks = components.blocks
    this.log = components.logger
    this.init = { fetchTimeoutMs: 600_000, ...init }
  }

  /** The directory of the cached dataset (`DATA_DIR/datasets/<CID>`). */
  get path(): string {
    return join(this.init.dir, this.init.cid)
  }

  /**
   * The dataset's directory, fetching and checking it first when it is not cached yet.
   * @throws naming the CID when it cannot be fetched or is not a dataset.
   */
  ready(options: { signal?: AbortSignal; providers?: readonly string[] } = {}): Promise<string> {
    if (this.pending === null) {
      const p = this.obtain({ signal: this.controller.signal, providers: options.providers })
      this.pending = p
      p.catch(() => {
        if (this.pending === p) this.pending = null
      })
    }
    const shared = this.pending
    const signal = options.signal
    if (signal === undefined) return shared
    // a caller that gives up (its run was stopped) leaves the fetch running for the others
    return new Promise<string>((resolve, reject) => {
      const abort = () => reject(signal.reason)
      if (signal.aborted) return abort()
      signal.addEventListener('abort', abort, { once: true })
      shared.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort))
    })
  }

  /** Aborts a fetch in progress (the node stops). */
  stop(): void {
    this.controller.abort()
  }

  private async obtain(options: { signal: AbortSignal; providers?: readonly string[] }): Promise<string> {
    const { cid } = this.init
    if (await isDir(this.path)) return this.path
    const started = performance.now()
    this.log.info({ cid }, 'fetching the fleet dataset')
    try {
      await this.blocks.fetch(cid, {
        signal: options.signal,
        timeoutMs: this.init.fetchTimeoutMs,
        providers: [...(options.providers ?? [])],
      })
      await this.blocks.pin(cid)
    } catch (err) {
      throw new Error(`could not fetch the fleet dataset ${cid}: ${(err as Error).message}`, { cause: err })
    }
    const temp = join(this.init.dir, `.${cid}.unchecked-${randomBytes(4).toString('hex')}`)
    try {
      await this.blocks.exportDirectory(cid, temp, { signal: options.signal })
      try {
        await datasetInfo(temp, { signal: options.signal })
      } catch (err) {
        throw new Error(`the fleet dataset ${cid} is not a usable dataset: ${(err as Error).message}`, { cause: err })
      }
      await rename(temp, this.path)
    } finally {
      await rm(temp, { recursive: true, force: true })
    }
    this.log.info(
      { cid, dir: this.path, seconds: Number(((performance.now() - started) / 1000).toFixed(2)) },
      'fleet dataset fetched and checked',
    )
    return this.path
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}
