export {
  BlockService,
  type BlockServiceInit,
  type BlockServiceStats,
  DEFAULT_BLOCK_SERVICE_INIT,
  type FetchOptions,
  type ImportResult,
  importDirectoryOffline,
  type ResolvedBlockServiceInit,
} from './block-service.ts'
export { hasLinks, linksOf, parseCid } from './dag-links.ts'
export {
  BadCidError,
  BlockBytesError,
  BlockExportError,
  BlockFetchError,
  BlockServiceNotStartedError,
  IncompleteDagError,
} from './errors.ts'
export { FleetBlockstore } from './fleet-blockstore.ts'
export { waitForDrain, withStreamBackpressure } from './stream-backpressure.ts'
export { exportUnixfsDirectory } from './unixfs-export.ts'
