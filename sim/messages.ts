import type { RoundRef } from '../node/index.ts'

/** A renewed lease, with the claim record of its round (signed by the renewer). */
export interface RenewedLease extends RoundRef {
  readonly claim?: Uint8Array
}

/**
 * What simulated peers send each other.
 *
 * @remarks `changes` pushes new Automerge changes (gossip, with the records they add so
 * that peers can act on them before Automerge has every dependency) or answers a `want`;
 * `heads` lets a receiver notice what it misses and ask for it by hash (`want`); `renew`
 * carries lease renewals, the claims they renew and the sender's heads; `sync` is one
 * Automerge sync-protocol message of a session opened on (re)connection or to close a gap.
 * Renewals are not signed on their own: the real node sends them over gossipsub, which
 * signs every message with the sender's peer key, and a receiver accepts a renewal only
 * for leases owned by the sender it came from (the claims inside are signed records).
 */
export type SimMessage =
  | {
      readonly type: 'changes'
      readonly changes: readonly Uint8Array[]
      readonly heads: readonly string[]
      readonly records?: readonly Uint8Array[]
    }
  | { readonly type: 'want'; readonly hashes: readonly string[]; readonly have: readonly string[] }
  | { readonly type: 'heads'; readonly heads: readonly string[] }
  | { readonly type: 'renew'; readonly leases: readonly RenewedLease[]; readonly heads: readonly string[] }
  | { readonly type: 'sync'; readonly data: Uint8Array }
