import * as Automerge from '@automerge/automerge'
import {
  appendRanges,
  checkChange,
  createJobTable,
  type JobTable,
  LOG_SHARD_IDS,
  logShardFor,
} from '../../crdt/index.ts'
import type { PeerMessage } from './messages.ts'

/** How a replica paces its work; every value in ms of the peer's clock unless said otherwise. */
export interface ReplicaInit {
  /** Arrivals are merged into the document at most this often (one Automerge call per merge). */
  readonly mergeMs: number
  /** A change seen missing is asked for only if still missing this long after (it may be in flight). */
  readonly wantDelayMs: number
  /** A missing change is asked for again after this long. */
  readonly wantRetryMs: number
  /** Messages one side sends in one sync session before it leaves the rest to gossip. */
  readonly syncSessionMessages: number
  /** A reply to a `want` carries at most this many changes (else only the wanted ones). */
  readonly maxWantReply: number
  /** A merge compares this document with the heads of at most this many senders. */
  readonly headsCheckedPerMerge: number
  /** Sync sessions a peer opens with peers that connected since its last batch (catch-up after a restart or a heal). */
  readonly syncFanout: number
}

/** Counters of one replica. */
export interface ReplicaStats {
  /** Automerge merges (one per merge interval with something to merge). */
  merges: number
  /** Changes and change bundles fed to those merges. */
  chunksMerged: number
  /** Their bytes (what a merge's cost follows). */
  bytesMerged: number
  /** Changes that arrived again (held or queued already): neither merged nor learnt twice. */
  knownChanges: number
  syncMessages: number
  syncSessions: number
  wantsSent: number
  /** Changes refused by the guard (deletes, overwrites, anything but log inserts), and messages dropped for them. */
  refusedChanges: number
  /** Inputs that made Automerge throw (a bad sync message, a want it could not answer), dropped. */
  badInputs: number
}

/** Counters at zero. */
export function emptyReplicaStats(): ReplicaStats {
  return {
    merges: 0,
    chunksMerged: 0,
    bytesMerged: 0,
    knownChanges: 0,
    syncMessages: 0,
    syncSessions: 0,
    wantsSent: 0,
    refusedChanges: 0,
    badInputs: 0,
  }
}

/** What a replica asks of its peer: the effects of its decisions, applied in order. */
export interface ReplicaHost {
  send(to: string, msg: PeerMessage): void
  broadcast(msg: PeerMessage): void
  /** Makes `chunk` (Automerge `saveIncremental` bytes) durable before anything sent after it. */
  persist(chunk: Uint8Array): void
  /** The record bytes that arriving changes insert (learnt on arrival, before Automerge has applied them). */
  learn(records: readonly unknown[]): void
  /** `from` sent something hostile or broken (counted, and the node may penalise the sender). */
  misbehaved(from: string, reason: string): void
}

interface Want {
  seen: number
  at: number
  tries: number
}

/** The Automerge document itself, under the JS view (what `Automerge.getBackend` returns). */
type Backend = ReturnType<typeof Automerge.getBackend>

/** Bounds of the per-peer maps, whatever the senders do. */
const MAX_TRACKED_PEERS = 1024
const MAX_WANTS = 10_000
const MAX_QUEUED_BYTES = 64 * 1024 * 1024

/**
 * One peer's copy of the job table document and how it keeps it in step with the others:
 * gossip push of its own changes (with their records), batched merges of what arrives,
 * pulls by hash of changes it finds missing, and Automerge sync sessions to catch up.
 *
 * @remarks Sans-IO: time comes with every call, effects go to the `ReplicaHost`. A merge
 * costs Automerge time in proportion to the document whatever it carries, so arrivals are
 * merged together once per `mergeMs`. Decisions do not wait for merges: every change that
 * arrives (pushed, answering a want, in a sync session) passes the `ChangeGuard`, which
 * reads the records it inserts, and the peer learns them at once (they are signed facts;
 * the change itself may wait in Automerge's queue for a dependency that was dropped). The
 * guard runs before Automerge sees a change: the log is append-only in fact, so a peer
 * never forgets a verified record it held. Every input path is total: a message
 * Automerge cannot use is dropped and counted, and the next good one still works.
 *
 * The replica works on the Automerge backend directly and never keeps a materialized JS
 * view of the document up to date: updating one copies every inserted record into a new
 * JS object on every merge and write (twice, with the patches): a tenth of a 50-peer
 * simulation's CPU, plus the garbage it made (GC was a fifth). Nor does it read merges'
 * patches (exporting them copied every record of every answer again, a tenth more):
 * records come from the guard; `doc` builds a view when asked.
 */
export class Replica {
  readonly stats: ReplicaStats = emptyReplicaStats()
  private readonly host: ReplicaHost
  private readonly init: ReplicaInit
  private readonly am: Backend
  /**
   * The JS document over `am`, used only to call Automerge's sync functions: it shows the
   * document as loaded and goes stale at the first merge or write (see `doc`).
   */
  private js: JobTable
  private stale = false
  private view: { heads: string; doc: JobTable } | undefined
  private chunks: Uint8Array[] = []
  /** Hashes of the changes in `chunks`. */
  private queuedHashes = new Set<string>()
  /**
   * Hashes of the changes merged into the document (or waiting in Automerge's queue for a
   * dependency): copies that arrive again are known without asking Automerge, which would
   * build a metadata object per question. As large as the document's change count.
   */
  private held = new Set<string>()
  private bytes = 0
  private senders = new Set<string>()
  private syncInbox: { from: string; data: Uint8Array }[] = []
  private headsInbox = new Map<string, readonly string[]>()
  private satisfied = new Map<string, string>()
  private wants = new Map<string, Want>()
  private syncStates = new Map<string, Automerge.SyncState>()
  private syncBudget = new Map<string, number>()
  /** Peers that connected since the last catch-up decision, and how many sessions may still be opened for them. */
  private fresh = new Set<string>()
  /** Peers this one is connected to (only they are asked for what is missing). */
  private linked = new Set<string>()
  private freshSessions = 0
  private freshAt = Number.NEGATIVE_INFINITY
  private aloneBefore = true
  private granted = false
  private mergeDue = Number.POSITIVE_INFINITY
  private syncedSince = false
  private unsaved = false

  /**
   * @param stored - the chunks a document store loaded (a snapshot and incremental saves), oldest first
   * @param actor - this incarnation's Automerge actor (fresh per process start)
   */
  constructor(host: ReplicaHost, init: ReplicaInit, actor: string, stored: readonly Uint8Array[] = []) {
    this.host = host
    this.init = init
    let doc = createJobTable(actor)
    if (stored.length > 0) {
      try {
        doc = Automerge.loadIncremental(doc, concat(stored))
      } catch {
        // One bad chunk must not cost the others: load them one by one.
        for (const chunk of stored) {
          try {
            doc = Automerge.loadIncremental(doc, chunk)
          } catch {
            this.stats.badInputs++
          }
        }
      }
    }
    // What was just loaded is durable already: the next incremental save starts after it.
    Automerge.saveIncremental(doc)
    this.js = doc
    this.am = Automerge.getBackend(doc)
    for (const meta of this.am.getChangesMeta([])) this.held.add(meta.hash)
    // Automerge's sync functions bring the JS view up to date with patches since the diff
    // cursor: keeping the cursor at the heads keeps those patches empty.
    this.am.updateDiffCursor()
  }

  /**
   * The document as an Automerge JS document, read-only (for reports, tests and the
   * simulator's checker): the one loaded, or else one built from the backend when asked.
   */
  get doc(): JobTable {
    if (!this.stale) return this.js
    const heads = this.heads().join()
    // saveSince: save() would mark everything persisted (the next saveIncremental would skip it).
    if (this.view?.heads !== heads) this.view = { heads, doc: Automerge.load(this.am.saveSince([])) }
    return this.view.doc
  }

  heads(): string[] {
    return this.am.getHeads()
  }

  /** Changes in the document (applied ones; not those waiting for a dependency). */
  private changeCount(): number {
    return this.am.stats().numChanges
  }

  /** When the next merge is due (ms), Infinity when nothing waits. */
  get mergeAt(): number {
    return this.mergeDue
  }

  /** Whether a sync session delivered something since this replica was created. */
  get synced(): boolean {
    return this.syncedSince
  }

  /** Whether merged changes wait to be persisted. */
  get dirty(): boolean {
    return this.unsaved
  }

  /** Sizes of the per-peer and per-change maps (they are bounded; tests and reports read them). */
  sizes(): Record<string, number> {
    return {
      headsInbox: this.headsInbox.size,
      satisfied: this.satisfied.size,
      wants: this.wants.size,
      syncStates: this.syncStates.size,
      syncBudget: this.syncBudget.size,
      fresh: this.fresh.size,
      linked: this.linked.size,
      queuedChunks: this.chunks.length,
    }
  }

  /** Handles one document message from `from`. */
  receive(from: string, msg: PeerMessage, now: number): void {
    switch (msg.type) {
      case 'changes': {
        // What a peer learns is what the changes insert, read by the guard that vets them
        // (a `records` field sent by an older peer beside them is not needed, nor trusted).
        // Over the bound, pushes are dropped (they are pulled again later), before vetting:
        // what `vet` passes counts as queued.
        if (this.bytes > MAX_QUEUED_BYTES) return
        const news = this.vet(from, msg.changes, 'refused change')
        if (news === null) return
        for (const c of news.changes) this.queue(c)
        this.senders.add(from)
        this.noteHeads(from, msg.heads, now)
        if (news.records.length > 0) this.host.learn(news.records)
        break
      }
      case 'heads':
      case 'renew':
      case 'heartbeat':
        this.noteHeads(from, msg.heads, now)
        break
      case 'want': {
        const changes = this.changesFor(msg.hashes, msg.have, msg.count)
        if (changes.length > 0) this.host.send(from, { type: 'changes', changes, heads: this.heads() })
        return
      }
      case 'sync': {
        let changes: Uint8Array[]
        try {
          changes = Automerge.decodeSyncMessage(msg.data).changes
        } catch {
          this.stats.badInputs++
          this.host.misbehaved(from, 'undecodable sync message')
          return
        }
        // An entry may hold several change chunks back to back: the guard judges each.
        if (this.syncInbox.length >= MAX_TRACKED_PEERS) return
        const news = this.vet(from, changes, 'refused change in sync message')
        if (news === null) return
        // Its changes are merged with the rest; the message is answered after the merge.
        for (const c of news.changes) this.queue(c)
        this.senders.add(from)
        this.syncInbox.push({ from, data: msg.data })
        if (news.records.length > 0) this.host.learn(news.records)
        break
      }
    }
    if (this.mergeDue === Number.POSITIVE_INFINITY) this.mergeDue = now + this.init.mergeMs
  }

  /**
   * Which of `changes` are news (neither in the document nor queued for the next merge),
   * and the records they insert; null when the guard refuses one of them (the sender is
   * reported, and nothing of the message is used). The caller queues the news.
   * @remarks Gossip, want answers and sync sessions bring most changes to a peer more
   * than once. Automerge would parse and hash every copy at the merge only to drop it,
   * and the records of a change this peer holds were learnt when it first came.
   */
  private vet(
    from: string,
    changes: readonly Uint8Array[],
    what: string,
  ): { changes: readonly Uint8Array[]; records: readonly Uint8Array[] } | null {
    const verdicts: { records: readonly Uint8Array[]; hashes: readonly string[] }[] = []
    for (const c of changes) {
      const verdict = checkChange(c)
      if (!verdict.ok) {
        this.stats.refusedChanges++
        this.host.misbehaved(from, `${what}: ${verdict.reason}`)
        return null
      }
      verdicts.push(verdict)
    }
    const news: Uint8Array[] = []
    const parts: (readonly Uint8Array[])[] = []
    for (let i = 0; i < changes.length; i++) {
      const { records, hashes } = verdicts[i]
      if (hashes.length > 0 && hashes.every((h) => this.holds(h))) {
        this.stats.knownChanges++
        continue
      }
      for (const h of hashes) this.queuedHashes.add(h)
      news.push(changes[i])
      parts.push(records)
    }
    // One change (a push) hands on the guard's own array; several are joined once.
    return { changes: news, records: parts.length === 1 ? parts[0] : parts.flat() }
  }

  /**
   * Whether the change `hash` is in the document or queued for the next merge. A change
   * that entered the document some other way (a sync message whose merge failed) is taken
   * for news: it is merged again, which Automerge ignores.
   */
  private holds(hash: string): boolean {
    return this.queuedHashes.has(hash) || this.held.has(hash)
  }

  private noteHeads(from: string, heads: readonly string[], now: number): void {
    // Pull only from peers this one is linked to: gossip may carry heads from peers it cannot
    // reach directly (whose answers would never come), and those peers' links relay and beacon.
    if (!this.linked.has(from)) return
    if (this.fresh.has(from) && now - this.freshAt <= this.init.wantRetryMs) {
      this.fresh.delete(from)
      // A peer that just connected tells us its heads: if we lack any of it, we are the side
      // that is behind (restarted, or on the quiet side of a partition), and we catch up
      // through a sync session rather than pulling the gap one layer per round trip.
      if (this.freshSessions > 0 && this.missingFrom(heads).length > 0) {
        this.freshSessions--
        this.startSync(from)
      }
    }
    if (!this.headsInbox.has(from) && this.headsInbox.size >= MAX_TRACKED_PEERS) return
    this.headsInbox.set(from, heads)
    if (this.mergeDue === Number.POSITIVE_INFINITY) this.mergeDue = now + this.init.mergeMs
  }

  private missingFrom(heads: readonly string[]): string[] {
    try {
      return this.am.getMissingDeps(heads as string[])
    } catch {
      this.stats.badInputs++
      return []
    }
  }

  private queue(chunk: Uint8Array): void {
    this.chunks.push(chunk)
    this.bytes += chunk.length
  }

  /**
   * What to send a peer that asks for `wanted` and has `have`: every change since the
   * heads of `have` this peer knows (the gap behind the wanted changes, in one reply instead
   * of one round trip per change), or only the wanted ones when that would be too much.
   * @param count - how many changes the asker holds, when it said: a gap known to be too
   * large is not computed (Automerge rebuilds every change it returns, a large cost in a
   * large document; most such gaps were computed only to be dropped)
   */
  private changesFor(wanted: readonly string[], have: readonly string[], count?: number): Uint8Array[] {
    try {
      const backend = this.am
      const tooFar = count !== undefined && this.changeCount() - count > this.init.maxWantReply
      // Which of the asker's heads this document holds (getChangeByHash would rebuild each change).
      const known = tooFar ? [] : have.filter((h) => backend.getChangeMetaByHash(h) !== null)
      if (known.length > 0) {
        const since = backend.getChanges(known)
        if (since.length <= this.init.maxWantReply) return since
      }
      const out: Uint8Array[] = []
      for (const h of wanted.slice(0, this.init.maxWantReply)) {
        const c = backend.getChangeByHash(h)
        if (c !== null) out.push(c)
      }
      return out
    } catch {
      this.stats.badInputs++
      return []
    }
  }

  /**
   * Merges everything received since the last merge in one Automerge call, answers sync
   * messages, then asks for what is still missing.
   */
  merge(now: number): void {
    this.mergeDue = Number.POSITIVE_INFINITY
    let loaded = true
    if (this.chunks.length > 0) {
      const all = concat(this.chunks)
      this.stats.chunksMerged += this.chunks.length
      this.stats.bytesMerged += all.length
      this.chunks = []
      this.bytes = 0
      try {
        this.am.loadIncremental(all)
        for (const h of this.queuedHashes) this.held.add(h)
      } catch {
        this.stats.badInputs++
        loaded = false
      }
      this.queuedHashes.clear()
      this.am.updateDiffCursor()
      this.stale = true
      this.stats.merges++
      this.unsaved = true
    }
    const sync = this.syncInbox
    this.syncInbox = []
    for (const m of sync) this.onSync(m.from, m.data, loaded)
    const senders = this.senders
    this.senders = new Set()
    this.askForMissing(now, senders)
  }

  // ---- pulling what is missing ------------------------------------------------------------

  /**
   * Asks for changes this peer lacks (dropped or reordered pushes): whatever a sender's
   * heads name that this document misses (including what changes waiting in Automerge's
   * queue depend on, which the peers whose changes were just merged hold).
   */
  private askForMissing(now: number, senders: ReadonlySet<string>): void {
    const waiting = this.missingFrom([])
    if (this.headsInbox.size === 0 && waiting.length === 0) return
    const mine = this.heads().join()
    let asked = 0
    // Heads tell much the same story whoever sends them: look at the latest few.
    const recent = [...this.headsInbox].slice(-this.init.headsCheckedPerMerge)
    for (const [from, heads] of recent) {
      const key = heads.join()
      if (key === mine || this.satisfied.get(from) === key) continue
      const missing = this.missingFrom(heads)
      if (missing.length === 0) {
        if (this.satisfied.size >= MAX_TRACKED_PEERS) this.satisfied.clear()
        this.satisfied.set(from, key)
        continue
      }
      if (this.ask(from, missing, now)) asked++
    }
    this.headsInbox.clear()
    if (waiting.length > 0 && asked === 0)
      for (const from of senders) if (this.linked.has(from) && this.ask(from, waiting, now)) break
    if (this.wants.size > MAX_WANTS / 10)
      for (const [h, w] of this.wants)
        if (now - Math.max(w.seen, w.at) > 10 * this.init.wantRetryMs) this.wants.delete(h)
  }

  /** Asks `from` for the hashes not asked for recently; after two failed asks, syncs with it instead. */
  private ask(from: string, missing: readonly string[], now: number): boolean {
    const ask: string[] = []
    let escalate = false
    for (const h of missing) {
      const w = this.wants.get(h)
      // A change first seen missing is probably still in flight: ask only if it stays missing.
      if (w === undefined) {
        if (this.wants.size < MAX_WANTS) this.wants.set(h, { seen: now, at: Number.NEGATIVE_INFINITY, tries: 0 })
        continue
      }
      if (now - w.seen < this.init.wantDelayMs || now - w.at < this.init.wantRetryMs) continue
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
    this.host.send(from, { type: 'want', hashes: ask.slice(0, 1024), have: this.heads(), count: this.changeCount() })
    return true
  }

  // ---- connections and sync sessions --------------------------------------------------------

  /**
   * Peers connected (a batch: after a restart, every peer; after a heal, those across it).
   * Their sync states start over; the first heads each of them sends decide whether this
   * peer is behind and opens a session (at most `syncFanout` per batch).
   */
  connected(peers: readonly string[], now: number): void {
    const newBatch = now - this.freshAt > this.init.wantRetryMs
    if (newBatch) {
      this.fresh.clear()
      this.freshSessions = 0
      // Alone before this batch: this peer restarted, or was cut off from everyone.
      this.aloneBefore = this.linked.size === 0
      this.granted = false
    }
    for (const p of peers) {
      this.resetSync(p)
      if (this.linked.size < MAX_TRACKED_PEERS) this.linked.add(p)
      if (this.fresh.size < MAX_TRACKED_PEERS) this.fresh.add(p)
    }
    this.freshAt = now
    // Sessions are for the side that is behind as a whole: a peer that was alone, or one
    // side of a healed partition (several peers at once). When one peer (re)joins, only it
    // catches up by sessions; the others pull what it has that they lack by hash, else
    // every peer of a large fleet would open a session to each restarted one.
    if (!this.granted && (this.aloneBefore || this.fresh.size >= 2)) {
      this.freshSessions = this.init.syncFanout
      this.granted = true
    }
  }

  /** A peer went away: forget everything kept about it. */
  disconnected(peer: string): void {
    this.syncStates.delete(peer)
    this.syncBudget.delete(peer)
    this.satisfied.delete(peer)
    this.headsInbox.delete(peer)
    this.fresh.delete(peer)
    this.linked.delete(peer)
  }

  /** Opens an Automerge sync session with `other`. */
  startSync(other: string): void {
    const prev = this.syncStates.get(other)
    // Reset: keep what both sides are known to share, forget messages in flight.
    let state =
      prev === undefined ? Automerge.initSyncState() : Automerge.decodeSyncState(Automerge.encodeSyncState(prev))
    let msg: Uint8Array | null
    ;[state, msg] = Automerge.generateSyncMessage(this.js, state)
    this.track(this.syncStates, other, state)
    this.track(this.syncBudget, other, this.init.syncSessionMessages - 1)
    this.stats.syncSessions++
    if (msg !== null) {
      this.stats.syncMessages++
      this.host.send(other, { type: 'sync', data: msg })
    }
  }

  private track<V>(map: Map<string, V>, key: string, value: V): void {
    if (!map.has(key) && map.size >= MAX_TRACKED_PEERS) map.delete(map.keys().next().value as string)
    map.set(key, value)
  }

  /** Forgets the in-flight part of the sync state with `other` (the connection dropped or came back). */
  resetSync(other: string): void {
    const prev = this.syncStates.get(other)
    if (prev !== undefined) this.syncStates.set(other, Automerge.decodeSyncState(Automerge.encodeSyncState(prev)))
  }

  /** @param merged - whether the merge just before took the message's changes in */
  private onSync(from: string, data: Uint8Array, merged: boolean): void {
    let state = this.syncStates.get(from) ?? Automerge.initSyncState()
    try {
      const decoded = Automerge.decodeSyncMessage(data)
      // The other side asks for specific changes: perhaps the message that carried them was
      // lost. Automerge never sends a change twice in one session, so start over.
      if (decoded.need.length > 0) state = Automerge.decodeSyncState(Automerge.encodeSyncState(state))
      if (decoded.changes.length > 0) this.syncedSince = true
      // Its changes went into the merge just before (their records were learnt there), so
      // Automerge finds nothing new in them and leaves the stale JS view alone. If that merge
      // failed, the sync state learns the rest (heads, needs, the bloom filter) without them.
      const bare =
        merged || decoded.changes.length === 0 ? data : Automerge.encodeSyncMessage({ ...decoded, changes: [] })
      ;[this.js, state] = Automerge.receiveSyncMessage(this.js, state, bare)
    } catch {
      // A message Automerge cannot use: drop it and start this session over next time.
      this.stats.badInputs++
      this.syncStates.delete(from)
      this.syncBudget.delete(from)
      this.host.misbehaved(from, 'sync message Automerge refused')
      return
    }
    this.track(this.syncStates, from, state)
    // In a busy fleet heads never stay equal, so a session would never end by itself: it
    // closes the gap it was opened for in a few rounds, then gossip carries the rest.
    const budget = this.syncBudget.get(from) ?? this.init.syncSessionMessages
    if (budget <= 0) return
    this.track(this.syncBudget, from, budget - 1)
    let reply: Uint8Array | null
    ;[state, reply] = Automerge.generateSyncMessage(this.js, state)
    this.syncStates.set(from, state)
    if (reply !== null) {
      this.stats.syncMessages++
      this.host.send(from, { type: 'sync', data: reply })
    }
  }

  // ---- writes and persistence ---------------------------------------------------------------

  /**
   * Appends records as one change, persists it (with whatever merged changes were not yet
   * persisted), then pushes it with its records to every peer.
   * @param time - the writer's clock, ms
   */
  write(records: readonly Uint8Array[], time: number): void {
    if (records.length === 0) return
    const changes = this.append(records, time)
    if (changes.length === 0) return
    // Everything not yet persisted goes with it: the new change depends on merged remote
    // changes, and a restart that lacked them could not apply it (a result would be lost).
    this.persist()
    this.host.broadcast({ type: 'changes', changes, heads: this.heads() })
  }

  /**
   * Appends records to the log as changes of this peer's actor: the very changes
   * `appendRecords` makes (one, or several when they would not fit in one change that
   * peers accept), made on the backend. Returns them.
   */
  private append(records: readonly Uint8Array[], time: number): Uint8Array[] {
    const out: Uint8Array[] = []
    try {
      for (const [start, end] of appendRanges(records)) {
        const shard = LOG_SHARD_IDS[logShardFor(this.am.stats().numOps)]
        for (let k = start; k < end; k++) this.am.push(shard, records[k])
        const hash = this.am.commit(null, Math.floor(time / 1000))
        if (hash !== null) {
          this.held.add(hash)
          const change = this.am.getLastLocalChange()
          if (change !== null) out.push(change)
        }
      }
    } catch {
      // A document without the genesis log (it cannot be: the guard refuses such changes).
      this.am.rollback()
      this.stats.badInputs++
    }
    this.am.updateDiffCursor()
    this.stale = true
    return out
  }

  /** Persists everything merged since the last persist (merged remote changes are persisted periodically). */
  persist(): void {
    const chunk = this.am.saveIncremental()
    this.unsaved = false
    if (chunk.length > 0) this.host.persist(chunk)
  }

  /** The whole document as one snapshot (it also counts as persisted: the store is compacted into it). */
  snapshot(): Uint8Array {
    this.unsaved = false
    return this.am.save()
  }

  /** The whole document as `Automerge.save` bytes (for reports; what is persisted is untouched). */
  save(): Uint8Array {
    const copy = this.am.clone()
    try {
      return copy.save()
    } finally {
      copy.free()
    }
  }

  /** Anti-entropy: sends this peer's heads to `to`. */
  beacon(to: string): void {
    this.host.send(to, { type: 'heads', heads: this.heads() })
  }
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]
  let n = 0
  for (const c of chunks) n += c.length
  const out = new Uint8Array(n)
  let off = 0
  for (const c of chunks) {
    out.set(c, off)
    off += c.length
  }
  return out
}
