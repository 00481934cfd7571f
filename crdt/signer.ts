import type { Ed25519PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'

/** Something that signs records as one peer (or operator): its id text and a sync `sign`. */
export interface Signer {
  /** The signer's peer id text (`12D3KooW...`), which embeds its Ed25519 public key. */
  readonly id: string
  sign(message: Uint8Array): Uint8Array
}

/** A signer over a libp2p Ed25519 private key. */
export function keySigner(key: Ed25519PrivateKey): Signer {
  const id = peerIdFromPrivateKey(key).toString()
  return {
    id,
    sign(message) {
      const sig = key.sign(message)
      if (sig instanceof Uint8Array) return sig
      throw new Error('Ed25519 signing is expected to be synchronous on Node')
    },
  }
}

// Both caches hold peer id texts of at most 128 characters (as records carry) and
// start again past MAX_CACHED_IDS entries: a flood of made-up ids costs time, not memory.
const MAX_CACHED_IDS = 20_000
const MAX_CACHED_ID_LENGTH = 128
const publicKeys = new Map<string, PublicKey | null>()

function publicKeyOf(id: string): PublicKey | null {
  let key = publicKeys.get(id)
  if (key === undefined) {
    try {
      const peer = peerIdFromString(id)
      key = peer.type === 'Ed25519' && peer.publicKey !== undefined ? peer.publicKey : null
    } catch {
      key = null
    }
    if (publicKeys.size >= MAX_CACHED_IDS) publicKeys.clear()
    if (id.length <= MAX_CACHED_ID_LENGTH) publicKeys.set(id, key)
  }
  return key
}

/** Verifies `sig` over `message` against the Ed25519 key embedded in peer id text `id`; never throws. */
export function verifySignature(id: string, message: Uint8Array, sig: Uint8Array): boolean {
  const key = publicKeyOf(id)
  if (key === null) return false
  try {
    return key.verify(message, sig) === true
  } catch {
    return false
  }
}

/** Byte-order comparison of two peer ids (their multihash bytes), as the tie-break needs. */
export function comparePeerIds(a: string, b: string): number {
  if (a === b) return 0
  const ba = peerBytes(a)
  const bb = peerBytes(b)
  const n = Math.min(ba.length, bb.length)
  for (let i = 0; i < n; i++) if (ba[i] !== bb[i]) return ba[i] - bb[i]
  return ba.length - bb.length
}

const peerByteCache = new Map<string, Uint8Array>()
function peerBytes(id: string): Uint8Array {
  let bytes = peerByteCache.get(id)
  if (bytes === undefined) {
    try {
      bytes = peerIdFromString(id).toMultihash().bytes
    } catch {
      bytes = new TextEncoder().encode(id)
    }
    if (peerByteCache.size >= MAX_CACHED_IDS) peerByteCache.clear()
    if (id.length <= MAX_CACHED_ID_LENGTH) peerByteCache.set(id, bytes)
  }
  return bytes
}
