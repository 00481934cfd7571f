import { createHash } from 'node:crypto'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { withBitswap } from '@helia/bitswap'
import { type BlockBroker, UnknownHashAlgorithmError } from '@helia/interface'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createHeliaLight, type Helia } from 'helia'
import { equals } from 'multiformats/bytes'
import type { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Logger } from 'pino'
import { importBundle } from '../../models/bundle/index.ts'
import { hasLinks, linksOf, parseCid } from './dag-links.ts'
import {
  BadCidError,
  BlockBytesError,
  BlockExportError,
  BlockFetchError,
  BlockServiceNotStartedError,
  IncompleteDagError,
} from './errors.ts'
import { FleetBlockstore } from './fleet-blockstore.ts'
import { readPins, writePins } from './pins-file.ts'
import { servingBlockstore } from './serving-blockstore.ts'
import { withStreamBackpressure } from './stream-backpressure.ts'
import { exportUnixfsDirectory } from './unixfs-export.ts'

/** Options of a {@link BlockService}; the optional ones default to {@link DEFAULT_BLOCK_SERVICE_INIT}. */
export interface BlockServiceInit {
  /** The blockstore-fs directory (e.g. `DATA_DIR/blocks`); created when missing. Pins live in `pins.json` inside it. */
  dir: string
  /**
   * Blocks a fetch wants at once (its window over the DAG). @defaultValue 16
   * @remarks 8-16 measured faster than 32-256 through pnet on a loaded 2-core host (bench/bundle-fetch.ts):
   * a provider builds one reply from all the wants it holds, and big replies stop the two sides overlapping.
   */
  wantWindow?: number
  /** How long one want may wait before it is cancelled and sent again to the peers connected then. @defaultValue 10 s */
  wantRetryMs?: number
  /** Default timeout of a whole {@link BlockService.fetch}. @defaultValue 10 min */
  fetchTimeoutMs?: number
  /**
   * Most wants bitswap keeps per remote peer (more are dropped, the oldest and lowest priority first).
   * @defaultValue 256
   * @remarks A provider loads every block of one peer's unsent wants into one reply: this bounds
   * that reply (256 x 256 KiB leaves = 64 MiB) for peers with long want lists.
   */
  maxWantsPerPeer?: number
  /** Replies bitswap builds and sends to one peer at once (each on its own stream). @defaultValue 4 */
  sendConcurrencyPerPeer?: number
  /**
   * Largest bitswap message frame this node sends. @defaultValue 1 MiB
   * @remarks Smaller frames than bitswap's 4 MiB keep provider and fetcher working at once.
   */
  maxMessageBytes?: number
  /**
   * Largest bitswap message frame taken from a peer (bigger ones reset the stream). @defaultValue 4 MiB
   * @remarks Helia's and go-bitswap's providers send frames up to 4 MiB: less refuses their replies.
   */
  maxIncomingMessageBytes?: number
  /** How long a bitswap message may take to send. @defaultValue 30 s */
  messageSendTimeoutMs?: number
  /** How long bitswap gathers new wants before it sends them. @defaultValue 1 ms (bitswap's is 10 ms; 1 ms measured faster with a window of 16) */
  wantDebounceMs?: number
}

/** A {@link BlockServiceInit} with every default filled in. */
export type ResolvedBlockServiceInit = Required<BlockServiceInit>

/** The defaults of every optional {@link BlockServiceInit} field. */
export const DEFAULT_BLOCK_SERVICE_INIT: Readonly<Omit<ResolvedBlockServiceInit, 'dir'>> = Object.freeze({
  wantWindow: 16,
  wantRetryMs: 10_000,
  fetchTimeoutMs: 10 * 60_000,
  maxWantsPerPeer: 256,
  sendConcurrencyPerPeer: 4,
  maxMessageBytes: 1024 * 1024,
  maxIncomingMessageBytes: 4 * 1024 * 1024,
  messageSendTimeoutMs: 30_000,
  wantDebounceMs: 1,
})

/** What {@link BlockService.importDirectory} stored. */
export interface ImportResult {
  /** The root CID (a UnixFS directory), as `models/bundle` computes it. */
  cid: string
  /** Bytes of the DAG's distinct blocks. */
  bytes: number
  /** Distinct blocks of the DAG. */
  blocks: number
  /** Blocks that were not stored before this import. */
  newBlocks: number
}

/** Options of {@link BlockService.fetch}. */
export interface FetchOptions {
  signal?: AbortSignal
  /** Fail after this long. @defaultValue `fetchTimeoutMs` */
  timeoutMs?: number
  /** Peers to dial first: multiaddrs with `/p2p/<id>`, or peer ids already in the peer store. */
  providers?: string[]
  /**
   * Called after each block of the DAG is present (fetched or already stored), with the blocks
   * known so far (the DAG is discovered as it is walked, so `blocksKnown` grows until the end).
   */
  onProgress?: (blocksDone: number, bytesDone: number, blocksKnown: number) => void
}

/** Counters of a {@link BlockService}. */
export interface BlockServiceStats {
  /** Blocks in the store (counted at start, then kept up to date). */
  storedBlocks: number
  /** Bytes of those blocks. */
  storedBytes: number
  /** Pinned roots. */
  pinned: number
  /** Blocks fetched from peers (hash verified). */
  fetchedBlocks: number
  /** Bytes of those blocks. */
  fetchedBytes: number
  /** Blocks refused because their bytes did not hash to their CID. */
  rejectedBlocks: number
  /** Wants sent again after `wantRetryMs` without an answer. */
  retriedWants: number
  /** Blocks read from the store to answer peers' bitswap wants. */
  servedBlocks: number
  /** Bytes of those blocks. */
  servedBytes: number
}

/**
 * Content-addressed storage and transfer of bundles and datasets: a blockstore-fs directory,
 * UnixFS import and export, pins, and bitswap (`/ipfs/bitswap/1.2.0`) on the node's one libp2p
 * host, so any peer holding the swarm key fetches a bundle by CID.
 *
 * @remarks
 * Bitswap comes from `@helia/bitswap`, composed on a light Helia (no routers, no libp2p of its
 * own): the FleetNet's host is handed to it, seen through {@link withStreamBackpressure} so that
 * its replies wait for real drains. Fetching walks the DAG itself with a window of wants and
 * hashes every block with SHA-256 before storing it: bitswap's own check trusts the hash
 * function the sender names, which could be `identity`.
 */
export class BlockService {
  readonly #libp2p: Libp2p
  readonly #log: Logger
  readonly #init: ResolvedBlockServiceInit
  readonly #pins = new Set<string>()
  #pinWrites: Promise<void> = Promise.resolve()
  readonly #counters = {
    fetchedBlocks: 0,
    fetchedBytes: 0,
    rejectedBlocks: 0,
    retriedWants: 0,
    servedBlocks: 0,
    servedBytes: 0,
  }
  #stored = { blocks: 0, bytes: 0 }
  #store: FleetBlockstore | undefined
  #helia: Helia | undefined
  #bitswap: BlockBroker | undefined
  #controller: AbortController | undefined
  #transition: Promise<void> = Promise.resolve()

  constructor(components: { libp2p: Libp2p; logger: Logger }, init: BlockServiceInit) {
    this.#libp2p = components.libp2p
    this.#log = components.logger.child({ ns: 'node:blocks' })
    const given = Object.fromEntries(Object.entries(init).filter(([, v]) => v !== undefined))
    this.#init = { ...DEFAULT_BLOCK_SERVICE_INIT, ...given } as ResolvedBlockServiceInit
    if (typeof this.#init.dir !== 'string' || this.#init.dir === '') {
      throw new TypeError('dir: expected the blockstore directory path')
    }
    for (const key of Object.keys(DEFAULT_BLOCK_SERVICE_INIT) as Array<keyof typeof DEFAULT_BLOCK_SERVICE_INIT>) {
      const value = this.#init[key]
      if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${key}: expected a positive number, got ${value}`)
    }
  }

  /** Opens the store, loads the pins and starts bitswap on the host; idempotent. A failed start stops what it began. */
  start(): Promise<void> {
    const next = this.#transition.then(() => this.#start())
    this.#transition = next.catch(() => {})
    return next
  }

  /** Stops bitswap (the host keeps running) and aborts fetches in progress; idempotent, safe before start. */
  stop(): Promise<void> {
    const next = this.#transition.then(() => this.#stop())
    this.#transition = next.catch(() => {})
    return next
  }

  /**
   * Imports a directory as UnixFS (the same CID `cis490-node train` reports) and stores its
   * blocks; blocks already stored are not written again.
   */
  async importDirectory(dir: string, options: { signal?: AbortSignal } = {}): Promise<ImportResult> {
    const store = this.#started()
    const result = { bytes: 0, blocks: 0, newBlocks: 0 }
    // the importer may put one block twice at once (a file with repeated chunks): count and store it once
    const seen = new Set<string>()
    const counting = {
      put: async (cid: CID, bytes: Uint8Array, opts?: { signal?: AbortSignal }): Promise<CID> => {
        const key = cid.toString()
        if (seen.has(key)) return cid
        seen.add(key)
        result.blocks++
        result.bytes += bytes.byteLength
        if (!(await store.has(cid))) {
          await store.put(cid, bytes, opts)
          result.newBlocks++
          this.#stored.blocks++
          this.#stored.bytes += bytes.byteLength
          this.#announce(cid)
        }
        return cid
      },
    }
    const cid = await importBundle(dir, counting, options)
    this.#log.info({ dir, cid, ...result }, 'directory imported')
    return { cid, ...result }
  }

  /** True when the block and every block below it are stored here. */
  async has(cid: string | CID, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const store = this.#started()
    const stack = [parseCid(cid)]
    while (stack.length > 0) {
      options.signal?.throwIfAborted()
      const next = stack.pop()!
      if (!(await store.has(next))) return false
      if (hasLinks(next)) stack.push(...linksOf(next, await this.#read(next)))
    }
    return true
  }

  /**
   * Stores one block given by a client (the API's `POST /v1/blocks/{cid}`): its bytes must hash to the CID.
   * @returns whether it was new.
   * @throws {@link BadCidError} for a CID the layer cannot walk, {@link BlockBytesError} when the bytes do not match.
   */
  async putBlock(cid: string | CID, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const store = this.#started()
    const key = parseCid(cid)
    if (!equals(createHash('sha256').update(bytes).digest(), key.multihash.digest))
      throw new BlockBytesError(`block ${key}: the ${bytes.byteLength} bytes given do not hash to this CID`)
    if (hasLinks(key)) linksOf(key, bytes)
    if (await store.has(key)) return false
    await store.put(key, bytes, options)
    this.#stored.blocks++
    this.#stored.bytes += bytes.byteLength
    this.#announce(key)
    return true
  }

  /** One stored block's bytes, or null when it is not stored here (never fetched). */
  async getBlock(cid: string | CID): Promise<Uint8Array | null> {
    const store = this.#started()
    const key = parseCid(cid)
    if (!(await store.has(key))) return null
    return this.#read(key)
  }

  /** Pins a root (kept on disk, listed in `stats().pinned`); the whole DAG must be stored. */
  async pin(cid: string | CID): Promise<void> {
    const root = parseCid(cid)
    if (!(await this.has(root)))
      throw new IncompleteDagError(`pin ${root}: the DAG is not all stored here; fetch it first`)
    if (this.#pins.has(root.toString())) return
    this.#pins.add(root.toString())
    await this.#savePins()
  }

  /** Removes a pin; no-op when the root is not pinned. */
  async unpin(cid: string | CID): Promise<void> {
    const root = parseCid(cid).toString()
    this.#started()
    if (!this.#pins.delete(root)) return
    await this.#savePins()
  }

  /** The pinned roots. */
  pins(): string[] {
    return [...this.#pins].sort()
  }

  /**
   * Fetches a whole DAG from whichever connected peers have it, `wantWindow` blocks at a time;
   * every block is hashed before it is stored; wants left unanswered for `wantRetryMs` go out
   * again (to the peers connected then).
   *
   * @throws {@link BlockFetchError} naming the root and the missing blocks when `timeoutMs` passes,
   * {@link BadCidError} for a CID the layer cannot walk, the signal's reason when it aborts.
   */
  async fetch(cid: string | CID, options: FetchOptions = {}): Promise<void> {
    this.#started()
    const root = parseCid(cid)
    const timeoutMs = options.timeoutMs ?? this.#init.fetchTimeoutMs
    const timeout = AbortSignal.timeout(timeoutMs)
    // aborted when the fetch ends, so that wants still in flight after a failure stop too
    const done = new AbortController()
    const signals = [timeout, this.#controller!.signal, done.signal]
    if (options.signal != null) signals.push(options.signal)
    const signal = AbortSignal.any(signals)
    const providers = (options.providers ?? []).map(toDialable)
    const queue: CID[] = [root]
    const listed = new Set<string>([root.toString()])
    let head = 0
    const wanted = new Set<string>()
    let blocksDone = 0
    let bytesDone = 0
    const started = performance.now()
    try {
      await new Promise<void>((resolve, reject) => {
        let active = 0
        let failed = false
        const pump = (): void => {
          while (!failed && active < this.#init.wantWindow && head < queue.length) {
            const next = queue[head++]
            active++
            wanted.add(next.toString())
            this.#getBlock(next, signal, providers)
              .then((bytes) => ({ bytes, links: linksOf(next, bytes) }))
              .then(({ bytes, links }) => {
                wanted.delete(next.toString())
                active--
                for (const link of links) {
                  // a DAG may link one block many times (repeated chunks): want it once
                  const key = link.toString()
                  if (listed.has(key)) continue
                  listed.add(key)
                  queue.push(link)
                }
                if (head > 4096) {
                  queue.splice(0, head)
                  head = 0
                }
                blocksDone++
                bytesDone += bytes.byteLength
                // a throwing progress callback fails the fetch instead of escaping as an unhandled rejection
                options.onProgress?.(blocksDone, bytesDone, listed.size)
                if (active === 0 && head === queue.length) resolve()
                else pump()
              })
              .catch((err: unknown) => {
                if (!failed) {
                  failed = true
                  reject(err)
                }
              })
          }
        }
        pump()
      })
    } catch (err) {
      if (timeout.aborted) {
        const missing = [...wanted]
        const waiting = queue.length - head
        throw new BlockFetchError(
          `fetch ${root}: timed out after ${timeoutMs} ms with ${blocksDone} blocks (${bytesDone} B) present; ` +
            `${missing.length} wanted blocks never arrived (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''})` +
            `${waiting > 0 ? ` and ${waiting} more known blocks were not asked for yet` : ''}; ` +
            `connected peers: ${this.#libp2p.getPeers().length}`,
          root.toString(),
          missing,
        )
      }
      if (this.#controller?.signal.aborted === true && options.signal?.aborted !== true) {
        throw new BlockServiceNotStartedError(`fetch ${root}: the block service stopped`)
      }
      throw err
    } finally {
      done.abort()
    }
    const seconds = (performance.now() - started) / 1000
    this.#log.info({ cid: root.toString(), blocks: blocksDone, bytes: bytesDone, seconds }, 'DAG fetched')
  }

  /**
   * Writes the UnixFS DAG as files under `outDir` (which must not exist): into a temporary
   * sibling first, each file fsynced, then renamed into place.
   *
   * @throws {@link BlockExportError} when `outDir` exists, a block is missing, or an entry name
   * would leave the directory.
   */
  async exportDirectory(cid: string | CID, outDir: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const store = this.#started()
    const root = parseCid(cid)
    await exportUnixfsDirectory(store, root, outDir, options.signal)
    this.#log.info({ cid: root.toString(), outDir }, 'DAG exported')
  }

  /** Counters since start, and the store's size. */
  stats(): BlockServiceStats {
    return {
      storedBlocks: this.#stored.blocks,
      storedBytes: this.#stored.bytes,
      pinned: this.#pins.size,
      ...this.#counters,
    }
  }

  #started(): FleetBlockstore {
    if (this.#store == null || this.#bitswap == null) throw new BlockServiceNotStartedError()
    return this.#store
  }

  async #getBlock(cid: CID, signal: AbortSignal, providers: Array<CID | Multiaddr>): Promise<Uint8Array> {
    const store = this.#store!
    if (await store.has(cid)) return this.#read(cid)
    for (;;) {
      signal.throwIfAborted()
      const attempt = AbortSignal.any([signal, AbortSignal.timeout(this.#init.wantRetryMs)])
      let bytes: Uint8Array
      try {
        bytes = await this.#bitswap!.retrieve!(cid, { signal: attempt, providers })
      } catch (err) {
        signal.throwIfAborted()
        if (!attempt.aborted) throw err
        this.#counters.retriedWants++
        this.#log.debug({ cid: cid.toString() }, 'want unanswered; asking again')
        continue
      }
      const digest = createHash('sha256').update(bytes).digest()
      if (!equals(digest, cid.multihash.digest)) {
        this.#counters.rejectedBlocks++
        this.#log.warn({ cid: cid.toString() }, 'a peer sent bytes that do not hash to the block; refused')
        continue
      }
      await store.put(cid, bytes, { signal })
      this.#stored.blocks++
      this.#stored.bytes += bytes.byteLength
      this.#counters.fetchedBlocks++
      this.#counters.fetchedBytes += bytes.byteLength
      this.#announce(cid)
      return bytes
    }
  }

  async #read(cid: CID): Promise<Uint8Array> {
    const chunks: Uint8Array[] = []
    for await (const chunk of this.#store!.get(cid)) chunks.push(chunk)
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
  }

  /** Tells bitswap a block arrived, so peers that want it from us get it. */
  #announce(cid: CID): void {
    this.#bitswap?.announce?.(cid)?.catch((err: unknown) => this.#log.debug({ err }, 'announce failed'))
  }

  /**
   * Writes the pins file with the set as it is when the write begins. Writes run one at a time:
   * two concurrent renames could otherwise land out of order and leave an older set on disk.
   */
  #savePins(): Promise<void> {
    const next = this.#pinWrites.then(() => writePins(this.#init.dir, this.pins()))
    this.#pinWrites = next.catch(() => {})
    return next
  }

  async #loadPins(): Promise<void> {
    this.#pins.clear()
    for (const cid of await readPins(this.#init.dir)) this.#pins.add(cid)
  }

  async #start(): Promise<void> {
    if (this.#helia != null) return
    const store = new FleetBlockstore(this.#init.dir)
    let helia: Helia | undefined
    try {
      await store.open()
      await this.#loadPins()
      this.#stored = await measureStore(this.#init.dir)
      helia = createHeliaLight({
        blockstore: servingBlockstore(store, this.#counters),
        logger: this.#libp2p.logger,
      })
      // bitswap checks a block with the hash function its sender names: only sha2-256 is ours
      Object.defineProperty(helia, 'getHasher', { configurable: true, enumerable: true, value: sha256Only })
      Object.defineProperty(helia, 'libp2p', {
        configurable: true,
        enumerable: true,
        value: withStreamBackpressure(this.#libp2p),
      })
      withBitswap(helia as HeliaWithLibp2p, {
        maxWantlistSize: this.#init.maxWantsPerPeer,
        sendBlocksConcurrency: this.#init.sendConcurrencyPerPeer,
        maxOutgoingMessageSize: this.#init.maxMessageBytes,
        maxIncomingMessageSize: this.#init.maxIncomingMessageBytes,
        messageSendTimeout: this.#init.messageSendTimeoutMs,
        sendWantlistDebounce: this.#init.wantDebounceMs,
      })
      await helia.start()
      const brokers = (helia as unknown as { blockBrokers: BlockBroker[] }).blockBrokers
      const bitswap = brokers.find((b) => b.name === 'bitswap')
      if (bitswap == null) throw new Error('bitswap did not start')
      this.#store = store
      this.#helia = helia
      this.#bitswap = bitswap
      this.#controller = new AbortController()
      this.#log.info({ dir: this.#init.dir, ...this.#stored, pinned: this.#pins.size }, 'block service started')
    } catch (err) {
      this.#store = undefined
      this.#helia = undefined
      this.#bitswap = undefined
      await helia?.stop().catch((stopErr: unknown) => this.#log.error({ err: stopErr }, 'stop after a failed start'))
      await store.close()
      throw err
    }
  }

  async #stop(): Promise<void> {
    const helia = this.#helia
    if (helia == null) return
    this.#controller?.abort()
    this.#helia = undefined
    this.#bitswap = undefined
    try {
      await helia.stop()
    } finally {
      await this.#store?.close()
      this.#store = undefined
      this.#controller = undefined
      this.#log.info('block service stopped')
    }
  }
}

/** A hasher loader that knows sha2-256 only (Helia's always adds `identity`, which checks nothing). */
async function sha256Only(code: number): Promise<typeof sha256> {
  if (code === sha256.code) return sha256
  throw new UnknownHashAlgorithmError(`hash 0x${code.toString(16)}: this fleet's blocks are sha2-256`)
}

function toDialable(provider: string): CID | Multiaddr {
  try {
    return provider.startsWith('/') ? multiaddr(provider) : peerIdFromString(provider).toCID()
  } catch {
    throw new BadCidError(`providers: ${JSON.stringify(provider)} is neither a multiaddr nor a peer id`)
  }
}

/** Counts the `.data` files of a blockstore-fs directory and their bytes. */
async function measureStore(dir: string): Promise<{ blocks: number; bytes: number }> {
  const out = { blocks: 0, bytes: 0 }
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith('.data')) continue
    out.blocks++
    out.bytes += (await stat(join(entry.parentPath, entry.name))).size
  }
  return out
}
