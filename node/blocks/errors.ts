/** A {@link BlockService} method ran before `start()` completed or after `stop()`. */
export class BlockServiceNotStartedError extends Error {
  constructor(message = 'block service not started: call start() first') {
    super(message)
    this.name = 'BlockServiceNotStartedError'
  }
}

/** A CID argument is not a CID, or names a hash or codec the block layer does not handle. */
export class BadCidError extends Error {
  constructor(message = 'not a CID') {
    super(message)
    this.name = 'BadCidError'
  }
}

/**
 * A fetch ended without the whole DAG: its timeout passed with blocks still missing.
 *
 * @remarks The message names the root, how many blocks arrived and the first missing ones.
 */
export class BlockFetchError extends Error {
  /** The root CID of the fetch. */
  readonly cid: string
  /** CIDs of the blocks that were wanted and had not arrived. */
  readonly missing: readonly string[]
  constructor(message: string, cid: string, missing: readonly string[]) {
    super(message)
    this.name = 'BlockFetchError'
    this.cid = cid
    this.missing = missing
  }
}

/** A DAG cannot be written out as files (not UnixFS, a bad entry name, or the target exists). */
export class BlockExportError extends Error {
  constructor(message = 'cannot export the DAG as a directory') {
    super(message)
    this.name = 'BlockExportError'
  }
}

/** An operation needs a whole DAG stored here and some of its blocks are not. */
export class IncompleteDagError extends Error {
  constructor(message = 'the DAG is not all stored here') {
    super(message)
    this.name = 'IncompleteDagError'
  }
}

/** Bytes given for a block do not hash to its CID (or a dag-pb block does not decode). */
export class BlockBytesError extends Error {
  constructor(message = 'the bytes do not hash to the CID') {
    super(message)
    this.name = 'BlockBytesError'
  }
}
