import type { RoundRef } from '../node/index.ts'

/**
 * What simulated peers send each other.
 *
 * @remarks `changes` pushes new Automerge changes (gossip) or answers a `want`; `heads`
 * lets a receiver notice what it misses and ask for it by hash (`want`); `renew` carries
 * lease renewals (and the sender's heads); `sync` is one Automerge sync-protocol message of
 * a session opened on (re)connection. Renewals are not signed on their own: the real node
 * sends them over gossipsub, which signs every message with the sender's peer key, and a
 * receiver accepts a renewal only for leases owned by the sender it came from.
 */
export type SimMessage =
  | { readonly type: 'changes'; readonly changes: readonly Uint8Array[]; readonly heads: readonly string[] }
  | { readonly type: 'want'; readonly hashes: readonly string[] }
  | { readonly type: 'heads'; readonly heads: readonly string[] }
  | { readonly type: 'renew'; readonly leases: readonly RoundRef[]; readonly heads: readonly string[] }
  | { readonly type: 'sync'; readonly data: Uint8Array }
