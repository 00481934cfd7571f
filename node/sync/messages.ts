import { decode, encode } from 'cborg'
import type { JobId } from '../../manifests/index.ts'
import type { HostCapability } from '../scheduler/index.ts'

/** One round of one job generation (what a lease is about). */
export interface LeaseRef {
  readonly job: JobId
  readonly generation: number
  readonly round: number
}

/** A renewed lease, with the signed claim record of its round (so a peer that missed the claim learns it). */
export interface RenewedLease extends LeaseRef {
  readonly claim?: Uint8Array
}

/** What a peer announces about itself every heartbeat. */
export interface PeerStatus {
  readonly capability: HostCapability
  /** Job ids this peer is training. */
  readonly running: readonly string[]
  /** Whether this peer pins every bundle (a store peer). */
  readonly store: boolean
  /** The package version it runs. */
  readonly version: string
  /** Whether it claims jobs at all (false: it lacks the fleet dataset, or was told not to). */
  readonly trains: boolean
}

/**
 * Every message peers exchange, one discriminated union.
 *
 * @remarks `changes` pushes new Automerge changes (gossip) or answers a `want`; receivers
 * read the records a change adds from the change itself, so they act on them before
 * Automerge has every dependency (the optional `records` field, which earlier versions
 * sent beside the changes, still decodes and is ignored); `heads` lets a receiver notice
 * what it misses and ask for it by hash (`want`);
 * `renew` carries lease renewals, the claims they renew and the sender's heads; `sync` is
 * one Automerge sync-protocol message of a session; `heartbeat` says who a peer is and
 * what it runs. Renewals and heartbeats are not signed on their own: the node sends them
 * over gossipsub, which signs every message with the sender's peer key (`StrictSign`), and
 * a receiver credits a renewal only to the peer it came from.
 */
export type PeerMessage =
  | {
      readonly type: 'changes'
      readonly changes: readonly Uint8Array[]
      readonly heads: readonly string[]
      readonly records?: readonly Uint8Array[]
    }
  | {
      readonly type: 'want'
      readonly hashes: readonly string[]
      readonly have: readonly string[]
      /**
       * How many changes the asker holds: a lower bound of the gap lets the answerer skip
       * computing a reply it would not send (Automerge rebuilds every change it returns).
       */
      readonly count?: number
    }
  | { readonly type: 'heads'; readonly heads: readonly string[] }
  | { readonly type: 'renew'; readonly leases: readonly RenewedLease[]; readonly heads: readonly string[] }
  | { readonly type: 'sync'; readonly data: Uint8Array }
  | { readonly type: 'heartbeat'; readonly status: PeerStatus; readonly heads: readonly string[] }

export type PeerMessageType = PeerMessage['type']

/** Limits of the wire format; a message past any of them does not decode. */
export const WIRE_LIMITS = {
  /** Bytes of one encoded message. */
  maxMessageBytes: 4 * 1024 * 1024,
  /** Changes (or records) in one `changes` message. */
  maxChanges: 10_000,
  /** Heads or hashes in one list. */
  maxHashes: 1024,
  /** Leases in one `renew`. */
  maxLeases: 1024,
  /** Job ids in a heartbeat's `running`. */
  maxRunning: 256,
  /** Bytes of one change or record. */
  maxItemBytes: 1024 * 1024,
} as const

const VERSION = 1
const TAGS: readonly PeerMessageType[] = ['changes', 'want', 'heads', 'renew', 'sync', 'heartbeat']
const HASH = /^[0-9a-f]{64}$/
const JOB = /^[0-9a-f]{64}$/

/**
 * Encodes a message as CBOR: an array `[version, tag, ...fields]` (positional, so no map
 * keys to pollute on decode).
 */
export function encodeMessage(msg: PeerMessage): Uint8Array {
  switch (msg.type) {
    case 'changes':
      return encode(
        msg.records === undefined
          ? [VERSION, 0, msg.changes, msg.heads]
          : [VERSION, 0, msg.changes, msg.heads, msg.records],
      )
    case 'want':
      return encode(
        msg.count === undefined ? [VERSION, 1, msg.hashes, msg.have] : [VERSION, 1, msg.hashes, msg.have, msg.count],
      )
    case 'heads':
      return encode([VERSION, 2, msg.heads])
    case 'renew':
      return encode([
        VERSION,
        3,
        msg.leases.map((l) =>
          l.claim === undefined ? [l.job, l.generation, l.round] : [l.job, l.generation, l.round, l.claim],
        ),
        msg.heads,
      ])
    case 'sync':
      return encode([VERSION, 4, msg.data])
    case 'heartbeat': {
      const s = msg.status
      const c = s.capability
      return encode([
        VERSION,
        5,
        [c.hostname, c.cuda, c.vram_gib, c.ram_gib, c.cores, c.runtimes],
        s.running,
        s.store,
        s.version,
        msg.heads,
        s.trains,
      ])
    }
  }
}

const isBytes = (x: unknown, max: number = WIRE_LIMITS.maxItemBytes): x is Uint8Array =>
  x instanceof Uint8Array && x.length <= max

function bytesList(x: unknown, max: number): Uint8Array[] | null {
  if (!Array.isArray(x) || x.length > max) return null
  for (const b of x) if (!isBytes(b)) return null
  return x as Uint8Array[]
}

function hashList(x: unknown): string[] | null {
  if (!Array.isArray(x) || x.length > WIRE_LIMITS.maxHashes) return null
  for (const h of x) if (typeof h !== 'string' || !HASH.test(h)) return null
  return x as string[]
}

const isCount = (x: unknown, min: number): x is number =>
  typeof x === 'number' && Number.isSafeInteger(x) && x >= min && x < 2 ** 31

const isGib = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x < 1e7

function capabilityOf(x: unknown): HostCapability | null {
  if (!Array.isArray(x) || x.length !== 6) return null
  const [hostname, cuda, vram, ram, cores, runtimes] = x
  if (typeof hostname !== 'string' || hostname.length === 0 || hostname.length > 255) return null
  if (typeof cuda !== 'boolean' || !isGib(vram) || !isGib(ram) || !isCount(cores, 0)) return null
  if (!Array.isArray(runtimes) || runtimes.length > 8) return null
  const rt: HostCapability['runtimes'][number][] = []
  for (const r of runtimes) {
    if (r !== 'xgboost' && r !== 'tfjs') return null
    if (!rt.includes(r)) rt.push(r)
  }
  return { hostname, cuda, vram_gib: vram, ram_gib: ram, cores, runtimes: rt }
}

function fields(msg: unknown[]): PeerMessage | null {
  switch (msg[1]) {
    case 0: {
      if (msg.length !== 4 && msg.length !== 5) return null
      const changes = bytesList(msg[2], WIRE_LIMITS.maxChanges)
      const heads = hashList(msg[3])
      if (changes === null || heads === null) return null
      if (msg.length === 4) return { type: 'changes', changes, heads }
      const records = bytesList(msg[4], WIRE_LIMITS.maxChanges)
      return records === null ? null : { type: 'changes', changes, heads, records }
    }
    case 1: {
      const hashes = hashList(msg[2])
      const have = hashList(msg[3])
      if ((msg.length !== 4 && msg.length !== 5) || hashes === null || have === null) return null
      if (msg.length === 4) return { type: 'want', hashes, have }
      return isCount(msg[4], 0) ? { type: 'want', hashes, have, count: msg[4] } : null
    }
    case 2: {
      const heads = hashList(msg[2])
      return msg.length !== 3 || heads === null ? null : { type: 'heads', heads }
    }
    case 3: {
      const list = msg[2]
      const heads = hashList(msg[3])
      if (msg.length !== 4 || heads === null || !Array.isArray(list) || list.length > WIRE_LIMITS.maxLeases) return null
      const leases: RenewedLease[] = []
      for (const l of list) {
        if (!Array.isArray(l) || (l.length !== 3 && l.length !== 4)) return null
        const [job, generation, round, claim] = l
        if (typeof job !== 'string' || !JOB.test(job) || !isCount(generation, 0) || !isCount(round, 1)) return null
        if (l.length === 4 && !isBytes(claim, 64 * 1024)) return null
        leases.push(
          l.length === 4
            ? { job: job as JobId, generation, round, claim: claim as Uint8Array }
            : { job: job as JobId, generation, round },
        )
      }
      return { type: 'renew', leases, heads }
    }
    case 4:
      return msg.length !== 3 || !isBytes(msg[2], WIRE_LIMITS.maxMessageBytes) ? null : { type: 'sync', data: msg[2] }
    case 5: {
      if (msg.length !== 8 || typeof msg[7] !== 'boolean') return null
      const capability = capabilityOf(msg[2])
      const running = msg[3]
      const heads = hashList(msg[6])
      if (capability === null || heads === null || typeof msg[4] !== 'boolean') return null
      if (typeof msg[5] !== 'string' || msg[5].length > 64) return null
      if (!Array.isArray(running) || running.length > WIRE_LIMITS.maxRunning) return null
      for (const j of running) if (typeof j !== 'string' || !JOB.test(j)) return null
      return {
        type: 'heartbeat',
        status: { capability, running: running as string[], store: msg[4], version: msg[5], trains: msg[7] },
        heads,
      }
    }
    default:
      return null
  }
}

/**
 * Decodes and validates a message; `null` for anything that is not a well-formed message
 * of this version within the limits. Never throws, whatever the bytes.
 */
export function decodeMessage(bytes: unknown): PeerMessage | null {
  if (!(bytes instanceof Uint8Array) || bytes.length < 3 || bytes.length > WIRE_LIMITS.maxMessageBytes) return null
  let value: unknown
  try {
    value = decode(bytes, { strict: true, allowUndefined: false, allowIndefinite: false, allowBigInt: false })
  } catch {
    return null
  }
  if (!Array.isArray(value) || value.length < 2 || value[0] !== VERSION) return null
  return fields(value)
}

/** The message type names, by wire tag (for counters). */
export const MESSAGE_TYPES: readonly PeerMessageType[] = TAGS
