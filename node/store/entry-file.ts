import { createHash } from 'node:crypto'

/** The two kinds of entry file a {@link FileDocumentStore} writes. */
export const ENTRY_KIND = { chunks: 'chunks', snapshot: 'snapshot' } as const
/** An entry file's kind: a batch of appended chunks, or a compaction snapshot. */
export type EntryKind = (typeof ENTRY_KIND)[keyof typeof ENTRY_KIND]

const MAGIC = [0x43, 0x44, 0x53, 0x31] // "CDS1": cis490 document store, format 1
const KIND_BYTE: Record<EntryKind, number> = { chunks: 1, snapshot: 2 }
const FIXED_HEADER = 20 // magic 4, kind 1, reserved 3, seq 8, count 4
const DIGEST = 32
const NAME = /^([0-9a-f]{16})\.(chunks|snapshot)$/
const SEQ_PREFIX = /^([0-9a-f]{16})\./

/**
 * The file name of an entry: its sequence number (16 hex digits, so names sort in order) and kind.
 * @remarks A chunks entry is named after the sequence number of its first chunk; a snapshot after
 * the sequence number it took, and it covers every entry with a smaller one.
 */
export function entryFileName(kind: EntryKind, seq: number): string {
  return `${seq.toString(16).padStart(16, '0')}.${kind}`
}

/** The kind and sequence number an entry file's name holds, or `undefined` for any other name. */
export function parseEntryFileName(name: string): { kind: EntryKind; seq: number } | undefined {
  const m = NAME.exec(name)
  if (m === null) return undefined
  return { kind: m[2] as EntryKind, seq: Number.parseInt(m[1], 16) }
}

/** The sequence number a name starts with (entries, also those moved aside as corrupt), if any. */
export function seqPrefixOf(name: string): number | undefined {
  const m = SEQ_PREFIX.exec(name)
  return m === null ? undefined : Number.parseInt(m[1], 16)
}

/**
 * Encodes an entry file: a header (magic, kind, sequence number, chunk count, chunk lengths),
 * the chunks, and the sha256 of everything before it.
 * @remarks The trailing digest makes every file self-validating: a torn write or a garbage file
 * fails the check on load. Big-endian integers throughout.
 */
export function encodeEntry(kind: EntryKind, seq: number, chunks: readonly Uint8Array[]): Uint8Array {
  const header = FIXED_HEADER + 4 * chunks.length
  let total = header + DIGEST
  for (const c of chunks) total += c.length
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  out.set(MAGIC, 0)
  out[4] = KIND_BYTE[kind]
  view.setBigUint64(8, BigInt(seq))
  view.setUint32(16, chunks.length)
  let off = header
  chunks.forEach((c, i) => {
    view.setUint32(FIXED_HEADER + 4 * i, c.length)
    out.set(c, off)
    off += c.length
  })
  out.set(createHash('sha256').update(out.subarray(0, off)).digest(), off)
  return out
}

/**
 * The chunks of an entry file (views into `bytes`), or `undefined` when the file is not a whole,
 * intact entry of that kind and sequence number (torn, garbage, renamed).
 */
export function decodeEntry(bytes: Uint8Array, kind: EntryKind, seq: number): Uint8Array[] | undefined {
  if (bytes.length < FIXED_HEADER + DIGEST) return undefined
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes[4] !== KIND_BYTE[kind] || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) return undefined
  if (view.getBigUint64(8) !== BigInt(seq)) return undefined
  const count = view.getUint32(16)
  if (count === 0 || (kind === 'snapshot' && count !== 1)) return undefined
  const header = FIXED_HEADER + 4 * count
  if (header + DIGEST > bytes.length) return undefined
  let total = header
  for (let i = 0; i < count; i++) total += view.getUint32(FIXED_HEADER + 4 * i)
  if (total + DIGEST !== bytes.length) return undefined
  const digest = createHash('sha256').update(bytes.subarray(0, total)).digest()
  if (!digest.equals(bytes.subarray(total))) return undefined
  const chunks: Uint8Array[] = []
  let off = header
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(FIXED_HEADER + 4 * i)
    chunks.push(new Uint8Array(bytes.buffer, bytes.byteOffset + off, len))
    off += len
  }
  return chunks
}
