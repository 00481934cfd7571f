import { randomBytes } from 'node:crypto'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { FsBlockstore } from 'blockstore-fs'
import { NextToLast } from 'blockstore-fs/sharding'
import type { CID } from 'multiformats/cid'

/**
 * A blockstore-fs store (its default next-to-last sharding, the same files and names) whose
 * `put` creates each shard directory once per process instead of once per block.
 *
 * @remarks blockstore-fs runs a recursive `mkdir` and a temp-file writer for every block; a
 * fetch profile spent about as long in `mkdir` as in decrypting the private network.
 * Blocks are still written to a temporary name and renamed, so a reader never sees half a block.
 */
export class FleetBlockstore extends FsBlockstore {
  readonly #sharding: NextToLast
  readonly #dirs = new Set<string>()

  constructor(location: string) {
    const sharding = new NextToLast()
    super(location, { shardingStrategy: sharding })
    this.#sharding = sharding
  }

  override async put(key: CID, val: Uint8Array, options?: AbortOptions): Promise<CID> {
    const { dir, file } = this.#sharding.encode(key)
    const parent = join(this.path, dir)
    const path = join(parent, file)
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`
    options?.signal?.throwIfAborted()
    try {
      if (!this.#dirs.has(parent)) await mkdir(parent, { recursive: true })
      try {
        await writeFile(temp, val)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
        // the shard directory went away under us: make it again
        await mkdir(parent, { recursive: true })
        await writeFile(temp, val)
      }
      this.#dirs.add(parent)
      await rename(temp, path)
      return key
    } catch (err) {
      await rm(temp, { force: true })
      throw new Error(`blockstore ${this.path}: cannot store block ${key}: ${(err as Error).message}`, { cause: err })
    }
  }
}
