import type { FleetBlockstore } from './fleet-blockstore.ts'

/** The blockstore methods Helia and bitswap call. */
export type BlockstoreMethods = Pick<
  FleetBlockstore,
  'has' | 'put' | 'putMany' | 'get' | 'getMany' | 'delete' | 'deleteMany' | 'getAll'
>

/**
 * The block store as the light Helia under bitswap sees it: the same store, with every
 * block read through it counted as served.
 *
 * @remarks Bitswap reads a block only to put it in a reply to a peer's want (its ledger), and
 * the BlockService never reads through Helia, so these reads are the blocks served. A want
 * cancelled between the read and the send still counts (rare, and the block was read).
 */
export function servingBlockstore(
  store: FleetBlockstore,
  served: { servedBlocks: number; servedBytes: number },
): BlockstoreMethods {
  return {
    has: (key, options) => store.has(key, options),
    put: (key, val, options) => store.put(key, val, options),
    putMany: (source, options) => store.putMany(source, options),
    get: async function* (key, options) {
      let bytes = 0
      for await (const chunk of store.get(key, options)) {
        bytes += chunk.byteLength
        yield chunk
      }
      served.servedBlocks++
      served.servedBytes += bytes
    },
    getMany: (source, options) => store.getMany(source, options),
    delete: (key, options) => store.delete(key, options),
    deleteMany: (source, options) => store.deleteMany(source, options),
    getAll: (options) => store.getAll(options),
  }
}
