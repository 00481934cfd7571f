import { CID } from 'multiformats/cid'

/** Text that can only be meant as a CID (CIDv1 base32 `b...`, CIDv0 `Qm...`), never as a path. */
const CID_SHAPE = /^(?:b[a-z2-7]{50,}|Qm[1-9A-HJ-NP-Za-km-z]{44})$/

/**
 * The CID a fleet's `dataset` names (normalised), or null when it names a directory.
 * @remarks A value shaped like a CID that does not parse is neither: {@link looksLikeCid}
 * lets the schema refuse it rather than look for a directory of that name.
 */
export function datasetCid(dataset: string): string | null {
  if (!CID_SHAPE.test(dataset)) return null
  try {
    return CID.parse(dataset).toString()
  } catch {
    return null
  }
}

/** Whether `text` has the shape of a CID (it may still fail to parse). */
export function looksLikeCid(text: string): boolean {
  return CID_SHAPE.test(text)
}
