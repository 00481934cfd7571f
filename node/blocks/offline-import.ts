import type { CID } from 'multiformats/cid'
import { importBundle } from '../../models/bundle/index.ts'
import type { ImportResult } from './block-service.ts'
import { FleetBlockstore } from './fleet-blockstore.ts'
import { readPins, writePins } from './pins-file.ts'

/**
 * Imports a directory as UnixFS straight into a blockstore directory and pins its root, with no
 * node running (`cis490-node dataset add` on a stopped node's data dir).
 *
 * @remarks Its own file, without Helia or libp2p, so that the CLI loads it quickly. A running node rewrites `pins.json` from its own list: with a node running on this
 * directory, import through its API instead.
 */
export async function importDirectoryOffline(
  blocksDir: string,
  srcDir: string,
  options: { signal?: AbortSignal } = {},
): Promise<ImportResult> {
  const store = new FleetBlockstore(blocksDir)
  await store.open()
  try {
    const result = { bytes: 0, blocks: 0, newBlocks: 0 }
    const seen = new Set<string>()
    const cid = await importBundle(
      srcDir,
      {
        put: async (key: CID, bytes: Uint8Array, opts?: { signal?: AbortSignal }): Promise<CID> => {
          if (seen.has(key.toString())) return key
          seen.add(key.toString())
          result.blocks++
          result.bytes += bytes.byteLength
          if (!(await store.has(key))) {
            await store.put(key, bytes, opts)
            result.newBlocks++
          }
          return key
        },
      },
      options,
    )
    const pins = new Set(await readPins(blocksDir))
    if (!pins.has(cid)) {
      pins.add(cid)
      await writePins(blocksDir, [...pins])
    }
    return { cid, ...result }
  } finally {
    await store.close()
  }
}
