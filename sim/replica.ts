import * as Automerge from '@automerge/automerge'
import { appendRecords, createJobTable, type JobTable, loadJobTable, recordsOf, saveJobTable } from '../crdt/index.ts'
import type { SimConfig } from './config.ts'
import type { SimMessage } from './messages.ts'

/** Messages one side sends in one sync session (opened on (re)connection or to close a gap). */
const SYNC_SESSION_MESSAGES = 4
/** A merge compares this document with the heads of at most this many senders. */
const HEADS_CHECKED_PER_MERGE = 4
/** A reply to a `want` carries at most this many changes (else only the wanted ones). */
const MAX_WANT_REPLY = 100

/** Counters of one replica. */
export interface ReplicaStats {
  /** Automerge merges (one per merge interval with something to merge). */
  merges: number
  /** Changes and change bundles fed to those merges. */
  chunksMerged: number
  syncMessages: number
  syncSessions: number
  wantsSent: number
}

/** What a replica needs of its peer. */
export interface ReplicaHost {
  readonly index: number
  readonly peers: number
  readonly cfg: SimConfig
  send(to: number, msg: SimMessage): void
  /** Record bytes that entered the document (from merges) or arrived alongside changes. */
  learn(records: readonly unknown[]): void
}

interface Want {
  seen: number
  at: number
  tries: number
}

/** Record bytes inserted into the log by a merge, from Automerge's patches. */
function insertedRecords(patches: readonly Automerge.Patch[], into: unknown[]): void {
  for (const p of patches) {
    if (p.path[0] !== 'log') continue
    if (p.action === 'insert') for (const v of p.values) into.push(v)
    else if (p.action === 'put' && p.path.length === 2) into.push(p.value)
  }
}

/**
 * One peer's copy of the job table document and how it keeps it in step with the others:
 * gossip push of its own changes (with their records), batched merges of what arrives,
 * pulls by hash of changes it finds missing, and Automerge sync sessions on (re)connection.
 *
 * @remarks A merge costs Automerge time in proportion to the document whatever it
 * carries, so arrivals are merged together once per `mergeMs`. Decisions do not wait for
 * merges: a pushed change carries its records, which the peer learns at once (they are
 * signed facts; the change itself may wait in Automerge's queue for a dependency that was
 * dropped). Persistence is explicit: `persist()` marks the heads that survive a crash.
 */
export class Replica {
  doc: JobTable
  readonly stats: ReplicaStats = { merges: 0, chunksMerged: 0, syncMessages: 0, syncSessions: 0, wantsSent: 0 }
  private readonly host: ReplicaHost
  private chunks: Uint8Array[] = []
  private bytes = 0
  private senders = new Set<number>()
  private syncInbox: { from: number; data: Uint8Array }[] = []
  private headsInbox = new Map<number, readonly string[]>()
  private satisfied = new Map<number, string>()
  private wants = new Map<string, Want>()
  private syncStates = new Map<number, Automerge.SyncState>()
  private syncBudget = new Map<number, number>()
  private persistedHeads: string[]
  private mergeDue = Number.POSITIVE_INFINITY
  private syncedSince = false
  /** Whether changes that arrived without their records may still enter the document. */
  private recordless = true

  constructor(host: ReplicaHost, actor: string) {
    this.host = host
    this.doc = createJobTable(actor)
    this.persistedHeads = this.heads()
  }

  heads(): string[] {
    return Automerge.getHeads(this.doc)
  }

  /** When the next merge is due (virtual ms), Infinity when nothing waits. */
  get mergeAt(): number {
    return this.mergeDue
  }

  /** Whether a sync session delivered something since the last restart. */
  get synced(): boolean {
    return this.syncedSince
  }

  /** Handles a document message; returns whether a merge was (or already is) scheduled. */
  receive(from: number, msg: SimMessage, now: number): void {
    switch (msg.type) {
      case 'changes':
        for (const c of msg.changes) this.queue(c)
        this.senders.add(from)
        this.headsInbox.set(from, msg.heads)
        if (msg.records !== undefined) this.host.learn(msg.records)
        else this.recordless = true
        break
      case 'heads':
        this.headsInbox.set(from, msg.heads)
        break
      case 'renew':
        this.headsInbox.set(from, msg.heads)
        break
      case 'want': {
        const changes = this.changesFor(msg.hashes, msg.have)
        if (changes.length > 0) this.host.send(from, { type: 'changes', changes, heads: this.heads() })
        return
      }
      case 'sync':
        // Its changes are merged with the rest; the message is answered after the merge.
        for (const c of Automerge.decodeSyncMessage(msg.data).changes) this.queue(c)
        this.senders.add(from)
        this.syncInbox.push({ from, data: msg.data })
        this.recordless = true
        break
    }
    if (this.mergeDue === Number.POSITIVE_INFINITY) this.mergeDue = now + this.host.cfg.mergeMs
  }

  private queue(chunk: Uint8Array): void {
    this.chunks.push(chunk)
    this.bytes += chunk.length
  }

  /**
   * What to send a peer that asks for `wanted` and has `have`: every change since the
   * heads of `have` this peer knows (the gap behind the wanted changes, in one reply instead
   * of one round trip per change), or only the wanted ones when that would be too much.
   */
  private changesFor(wanted: readonly string[], have: readonly string[]): Uint8Array[] {
    const backend = Automerge.getBackend(this.doc)
    const known = have.filter((h) => backend.getChangeByHash(h) !== null)
    if (known.length > 0) {
      const since = Automerge.getChangesSince(this.doc, known)
      if (since.length <= MAX_WANT_REPLY) return since
    }
    const out: Uint8Array[] = []
    for (const h of wanted) {
      const c = backend.getChangeByHash(h)
      if (c !== null) out.push(c)
    }
    return out
  }

  /**
   * Merges everything received since the last merge in one Automerge call, answers sync
   * messages, then asks for what is still missing.
   */
  merge(now: number): void {
    this.mergeDue = Number.POSITIVE_INFINITY
    if (this.chunks.length > 0) {
      const all = new Uint8Array(this.bytes)
      let off = 0
      for (const c of this.chunks) {
        all.set(c, off)
        off += c.length
      }
      this.stats.chunksMerged += this.chunks.length
      this.chunks = []
      this.bytes = 0
      const inserted: unknown[] = []
      this.doc = Automerge.loadIncremental(this.doc, all, {
        patchCallback: (patches) => insertedRecords(patches, inserted),
      })
      this.stats.merges++
      // Records pushed with their changes were learnt on arrival; only changes that came
      // without them (answers to wants, sync sessions) teach something new.
      if (inserted.length > 0 && this.recordless) this.host.learn(inserted)
    }
    const sync = this.syncInbox
    this.syncInbox = []
    for (const m of sync) this.onSync(m.from, m.data)
    const senders = this.senders
    this.senders = new Set()
    const waiting = this.askForMissing(now, senders)
    // Changes without records may still wait in Automerge's queue for a dependency.
    if (waiting === 0) this.recordless = false
  }

  // ---- pulling what is missing ------------------------------------------------------------

  /**
   * Asks for changes this peer lacks (dropped or reordered pushes): whatever a sender's
   * heads name that this document misses (including what changes waiting in Automerge's
   * queue depend on, which the peers whose changes were just merged hold).
   */
  private askForMissing(now: number, senders: ReadonlySet<number>): number {
    const waiting = Automerge.getMissingDeps(this.doc, [])
    if (this.headsInbox.size === 0 && waiting.length === 0) return 0
    const mine = this.heads().join()
    let asked = 0
    // Heads tell much the same story whoever sends them: look at the latest few.
    const recent = [...this.headsInbox].slice(-HEADS_CHECKED_PER_MERGE)
    for (const [from, heads] of recent) {
      const key = heads.join()
      if (key === mine || this.satisfied.get(from) === key) continue
      const missing = Automerge.getMissingDeps(this.doc, heads as string[])
      if (missing.length === 0) {
        this.satisfied.set(from, key)
        continue
      }
      if (this.ask(from, missing, now)) asked++
    }
    this.headsInbox.clear()
    if (waiting.length > 0 && asked === 0) for (const from of senders) if (this.ask(from, waiting, now)) break
    if (this.wants.size > 1000)
      for (const [h, w] of this.wants)
        if (now - Math.max(w.seen, w.at) > 10 * this.host.cfg.wantRetryMs) this.wants.delete(h)
    return waiting.length
  }

  /** Asks `from` for the hashes not asked for recently; after two failed asks, syncs with it instead. */
  private ask(from: number, missing: readonly string[], now: number): boolean {
    const cfg = this.host.cfg
    const ask: string[] = []
    let escalate = false
    for (const h of missing) {
      const w = this.wants.get(h)
      // A change first seen missing is probably still in flight: ask only if it stays missing.
      if (w === undefined) {
        this.wants.set(h, { seen: now, at: Number.NEGATIVE_INFINITY, tries: 0 })
        continue
      }
      if (now - w.seen < cfg.wantDelayMs || now - w.at < cfg.wantRetryMs) continue
      w.at = now
      w.tries++
      ask.push(h)
      if (w.tries > 2) escalate = true
    }
    if (ask.length === 0) return false
    if (escalate) {
      for (const h of ask) (this.wants.get(h) as Want).tries = 0
      this.startSync(from)
      return true
    }
    this.stats.wantsSent++
    this.host.send(from, { type: 'want', hashes: ask, have: this.heads() })
    return true
  }

  // ---- sync sessions ------------------------------------------------------------------------

  /** Opens an Automerge sync session with `other`. */
  startSync(other: number): void {
    const prev = this.syncStates.get(other)
    // Reset: keep what both sides are known to share, forget messages in flight.
    let state =
      prev === undefined ? Automerge.initSyncState() : Automerge.decodeSyncState(Automerge.encodeSyncState(prev))
    let msg: Uint8Array | null
    ;[state, msg] = Automerge.generateSyncMessage(this.doc, state)
    this.syncStates.set(other, state)
    this.syncBudget.set(other, SYNC_SESSION_MESSAGES - 1)
    this.stats.syncSessions++
    if (msg !== null) {
      this.stats.syncMessages++
      this.host.send(other, { type: 'sync', data: msg })
    }
  }

  /** Forgets the in-flight part of the sync state with `other` (the connection dropped). */
  resetSync(other: number): void {
    const prev = this.syncStates.get(other)
    if (prev !== undefined) this.syncStates.set(other, Automerge.decodeSyncState(Automerge.encodeSyncState(prev)))
  }

  private onSync(from: number, data: Uint8Array): void {
    let state = this.syncStates.get(from) ?? Automerge.initSyncState()
    const decoded = Automerge.decodeSyncMessage(data)
    // The other side asks for specific changes: perhaps the message that carried them was
    // lost. Automerge never sends a change twice in one session, so start over.
    if (decoded.need.length > 0) state = Automerge.decodeSyncState(Automerge.encodeSyncState(state))
    if (decoded.changes.length > 0) this.syncedSince = true
    const inserted: unknown[] = []
    ;[this.doc, state] = Automerge.receiveSyncMessage(this.doc, state, data, {
      patchCallback: (patches) => insertedRecords(patches, inserted),
    })
    if (inserted.length > 0) this.host.learn(inserted)
    this.syncStates.set(from, state)
    // In a busy fleet heads never stay equal, so a session would never end by itself: it
    // closes the gap it was opened for in a few rounds, then gossip carries the rest.
    const budget = this.syncBudget.get(from) ?? SYNC_SESSION_MESSAGES
    if (budget <= 0) return
    this.syncBudget.set(from, budget - 1)
    let reply: Uint8Array | null
    ;[state, reply] = Automerge.generateSyncMessage(this.doc, state)
    this.syncStates.set(from, state)
    if (reply !== null) {
      this.stats.syncMessages++
      this.host.send(from, { type: 'sync', data: reply })
    }
  }

  // ---- writes, persistence, crash -----------------------------------------------------------

  /**
   * Appends records as one change, persists it, and pushes it (with its records) to every peer.
   * @param time - the writer's clock, ms
   */
  write(records: readonly Uint8Array[], time: number): void {
    this.commit(appendRecords(this.doc, records, time), records)
  }

  /** Applies a change someone made through this peer (operator API); returns the records it added. */
  writeWith(edit: (doc: JobTable) => JobTable): Uint8Array[] {
    const before = recordsOf(this.doc).length
    const next = edit(this.doc)
    if (next === this.doc) return []
    const added = recordsOf(next).slice(before) as Uint8Array[]
    this.commit(next, added)
    return added
  }

  private commit(next: JobTable, records: readonly Uint8Array[]): void {
    this.doc = next
    this.persistedHeads = this.heads()
    const change = Automerge.getLastLocalChange(this.doc)
    if (change === undefined) return
    const msg: SimMessage = { type: 'changes', changes: [change], heads: this.persistedHeads, records }
    for (let j = 0; j < this.host.peers; j++) if (j !== this.host.index) this.host.send(j, msg)
  }

  /** Marks everything merged so far as persisted (merged remote changes are persisted periodically). */
  persist(): void {
    this.persistedHeads = this.heads()
  }

  /** Anti-entropy: sends this peer's heads to `to`. */
  beacon(to: number): void {
    this.host.send(to, { type: 'heads', heads: this.heads() })
  }

  /** A crash: loses whatever was not persisted, and every session. */
  crash(): void {
    this.chunks = []
    this.bytes = 0
    this.senders.clear()
    this.syncInbox = []
    this.headsInbox.clear()
    this.satisfied.clear()
    this.wants.clear()
    this.syncStates.clear()
    this.syncBudget.clear()
    this.mergeDue = Number.POSITIVE_INFINITY
    this.recordless = true
  }

  /**
   * Reloads the persisted document (through `saveJobTable`/`loadJobTable`) under a fresh actor.
   * @returns the persisted size in bytes
   */
  restore(actor: string): number {
    const old = this.doc
    const persisted = Automerge.clone(Automerge.view(old, this.persistedHeads))
    const bytes = saveJobTable(persisted)
    Automerge.free(persisted)
    Automerge.free(old)
    this.doc = loadJobTable(bytes, actor)
    this.persistedHeads = this.heads()
    this.syncedSince = false
    return bytes.length
  }
}
