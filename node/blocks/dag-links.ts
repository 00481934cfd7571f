import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { BadCidError } from './errors.ts'

/**
 * Parses a CID given as text or as a CID, and checks the block layer can verify and walk it:
 * sha2-256 hashes, dag-pb or raw blocks (what ipfs-unixfs-importer writes by default).
 *
 * @throws {@link BadCidError} naming the input.
 */
export function parseCid(input: string | CID): CID {
  let cid: CID | null
  try {
    cid = typeof input === 'string' ? CID.parse(input) : CID.asCID(input)
  } catch {
    cid = null
  }
  if (cid == null) throw new BadCidError(`cid ${JSON.stringify(String(input))}: not a CID`)
  checkWalkable(cid)
  return cid
}

function checkWalkable(cid: CID): void {
  if (cid.multihash.code !== sha256.code) {
    throw new BadCidError(`cid ${cid}: hash 0x${cid.multihash.code.toString(16)} is not sha2-256`)
  }
  if (cid.code !== dagPb.code && cid.code !== raw.code) {
    throw new BadCidError(`cid ${cid}: codec 0x${cid.code.toString(16)} is neither dag-pb nor raw`)
  }
}

/** True when blocks of this CID carry links (dag-pb); raw blocks are leaves. */
export function hasLinks(cid: CID): boolean {
  return cid.code === dagPb.code
}

/**
 * The CIDs a block links to, in order.
 *
 * @throws {@link BadCidError} when a dag-pb block does not decode or links to a CID the layer cannot walk.
 */
export function linksOf(cid: CID, bytes: Uint8Array): CID[] {
  if (!hasLinks(cid)) return []
  let node: dagPb.PBNode
  try {
    node = dagPb.decode(bytes)
  } catch (err) {
    throw new BadCidError(`block ${cid}: not a dag-pb node (${(err as Error).message})`)
  }
  return node.Links.map((link) => {
    checkWalkable(link.Hash)
    return link.Hash
  })
}
