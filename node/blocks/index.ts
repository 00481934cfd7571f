export {
  BlockService,
  type BlockServiceInit,
  type BlockServiceStats,
  DEFAULT_BLOCK_SERVICE_INIT,
  type FetchOptions,
  type ImportResult,
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
export { importDirectoryOffline } from './offline-import.ts'
export { PINS_FILE, readPins, writePins } from './pins-file.ts'
export { waitForDrain, withStreamBackpressure } from './stream-backpressure.ts'
export { exportUnixfsDirectory } from './unixfs-export.ts'
