import * as Automerge from '@automerge/automerge'
import {
  appendRecords,
  createJobTable,
  DerivedTable,
  encodeRecord,
  type JobTable,
  LeaseTable,
  loadJobTable,
  recordsOf,
  type Signer,
  saveJobTable,
  type TrustConfig,
} from '../crdt/index.ts'
import type { JobId } from '../manifests/index.ts'
import { type RoundRef, type RunOutcome, Scheduler, type SchedulerAction } from '../node/index.ts'
import type { Fault, SimConfig } from './config.ts'
import type { SimEvent } from './events.ts'
import type { InvariantChecker } from './invariants.ts'
import type { SimMessage } from './messages.ts'
import type { SimNetwork } from './network.ts'
import { mixSeed, Prng } from './prng.ts'
import type { Trace } from './trace.ts'
import type { SimHost, Workload } from './workload.ts'

/** What a simulated peer reaches of the world around it. */
export interface PeerEnv {
  readonly seed: number
  readonly cfg: SimConfig
  readonly faults: ReadonlySet<Fault>
  readonly trust: TrustConfig
  readonly workload: Workload
  readonly network: SimNetwork<SimMessage>
  readonly trace: Trace
  readonly checker: InvariantChecker
  now(): number
  schedule(at: number, event: SimEvent): void
}

/** A peer's clock: `local = offset + rate · virtual` (ms). */
export interface PeerClock {
  readonly offset: number
  readonly rate: number
}

interface LocalRun {
  readonly runId: number
  readonly ref: RoundRef
  readonly outcome: RunOutcome
  readonly startedAt: number
}

/** Counters a peer keeps for the report. */
export interface PeerStats {
  applies: number
  syncMessages: number
  wantsSent: number
  restarts: number
}

function actorFor(seed: number, peer: number, incarnation: number): string {
  let out = ''
  for (let k = 0; k < 4; k++) out += mixSeed(seed, `actor/${peer}/${incarnation}/${k}`).toString(16).padStart(8, '0')
  return out
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
 * One simulated peer: its own Automerge job table, signer, lease observations and the
 * very scheduler a real node runs, wired to a simulated network and trainers.
 *
 * @remarks Received changes are merged in batches (one Automerge apply per flush, which is
 * what keeps many peers cheap), then the table is re-derived incrementally and the
 * scheduler decides. Persistence points are explicit: a peer's own writes are persisted
 * before they are sent or acted on; merged remote changes are persisted every
 * `persistMs`. A crash loses everything else (runs, received but unpersisted changes,
 * lease observations, scheduler state, sync states); a restart loads the persisted
 * document through `saveJobTable`/`loadJobTable` under a fresh actor.
 */
export class SimPeer {
  readonly index: number
  readonly signer: Signer
  readonly host: SimHost
  readonly clock: PeerClock
  readonly stats: PeerStats = { applies: 0, syncMessages: 0, wantsSent: 0, restarts: 0 }
  up = true
  incarnation = 0
  doc: JobTable
  table: DerivedTable
  private leases: LeaseTable
  private scheduler: Scheduler
  private readonly env: PeerEnv
  private readonly peerIds: readonly string[]
  private readonly rng: Prng
  private readonly trainerRng: Prng
  private syncStates = new Map<number, Automerge.SyncState>()
  private inboxChanges: Uint8Array[] = []
  private inboxHeads = new Map<number, readonly string[]>()
  private satisfiedHeads = new Map<number, string>()
  private wants = new Map<string, { at: number; tries: number }>()
  private nextTickAt = Number.POSITIVE_INFINITY
  private runs = new Map<JobId, LocalRun>()
  private exits: { ref: RoundRef; outcome: RunOutcome }[] = []
  private persistedHeads: string[]
  private lastPersistAt = 0
  private dirty = false
  private runCounter = 0
  private headsKey = ''

  constructor(
    env: PeerEnv,
    index: number,
    signer: Signer,
    host: SimHost,
    clock: PeerClock,
    peerIds: readonly string[],
  ) {
    this.env = env
    this.index = index
    this.signer = signer
    this.host = host
    this.clock = clock
    this.peerIds = peerIds
    this.rng = Prng.stream(env.seed, `peer/${index}`)
    this.trainerRng = Prng.stream(env.seed, `trainer/${index}`)
    this.doc = createJobTable(actorFor(env.seed, index, 0))
    this.persistedHeads = Automerge.getHeads(this.doc)
    this.table = new DerivedTable({ trust: env.trust })
    this.leases = new LeaseTable({ leaseMs: env.cfg.leaseMs })
    this.scheduler = this.newScheduler()
  }

  private newScheduler(): Scheduler {
    const cfg = this.env.cfg
    return new Scheduler(
      {
        peerId: this.signer.id,
        capability: this.host.capability,
        hosts: this.env.trust.hosts,
        random: () => this.rng.next(),
      },
      {
        settleMs: cfg.settleMs,
        renewMs: cfg.renewMs,
        backoffBaseMs: cfg.backoffBaseMs,
        backoffMaxMs: cfg.backoffMaxMs,
        lapseStaggerMs: cfg.lapseStaggerMs,
      },
    )
  }

  /** This peer's clock at virtual time `v`. */
  localNow(v: number): number {
    return this.clock.offset + this.clock.rate * v
  }

  private toVirtual(local: number): number {
    return (local - this.clock.offset) / this.clock.rate
  }

  /** Runs this peer is training now. */
  get activeRuns(): number {
    return this.runs.size
  }

  // ---- messages -------------------------------------------------------------------------

  /** Handles one delivered message. */
  receive(from: number, msg: SimMessage, now: number): void {
    switch (msg.type) {
      case 'changes':
        for (const c of msg.changes) this.inboxChanges.push(c)
        this.inboxHeads.set(from, msg.heads)
        this.requestTick(now + this.env.cfg.flushMs)
        return
      case 'heads':
        this.inboxHeads.set(from, msg.heads)
        this.requestTick(now + this.env.cfg.flushMs)
        return
      case 'renew': {
        const local = this.localNow(now)
        const owner = this.peerIds[from]
        for (const l of msg.leases) {
          this.leases.renew(l.job, l.generation, l.round, owner, local)
          const j = this.table.get(l.job)
          // A renewal of a round this peer already saw lapse revives it: derive it again.
          if (j !== undefined && j.generation === l.generation && j.round === l.round && j.owner === null)
            this.table.touch(l.job)
        }
        this.inboxHeads.set(from, msg.heads)
        this.requestTick(now + this.env.cfg.flushMs)
        return
      }
      case 'want': {
        const backend = Automerge.getBackend(this.doc)
        const changes: Uint8Array[] = []
        for (const h of msg.hashes) {
          const c = backend.getChangeByHash(h)
          if (c !== null) changes.push(c)
        }
        if (changes.length > 0) this.send(from, { type: 'changes', changes, heads: this.heads() }, now)
        return
      }
      case 'sync':
        this.onSync(from, msg.data, now)
        return
    }
  }

  private send(to: number, msg: SimMessage, now: number): void {
    this.env.network.send(this.index, to, msg, now)
  }

  private broadcast(msg: SimMessage, now: number): void {
    for (let j = 0; j < this.peerIds.length; j++) if (j !== this.index) this.send(j, msg, now)
  }

  private heads(): string[] {
    return Automerge.getHeads(this.doc)
  }

  /** Opens an Automerge sync session with `other` (on (re)connection). */
  startSync(other: number, now: number): void {
    const prev = this.syncStates.get(other)
    // Reset: keep what both sides are known to share, forget messages in flight.
    let state =
      prev === undefined ? Automerge.initSyncState() : Automerge.decodeSyncState(Automerge.encodeSyncState(prev))
    let msg: Uint8Array | null
    ;[state, msg] = Automerge.generateSyncMessage(this.doc, state)
    this.syncStates.set(other, state)
    if (msg !== null) {
      this.stats.syncMessages++
      this.send(other, { type: 'sync', data: msg }, now)
    }
  }

  /** Forgets the in-flight part of the sync state with `other` (the connection dropped). */
  resetSync(other: number): void {
    const prev = this.syncStates.get(other)
    if (prev !== undefined) this.syncStates.set(other, Automerge.decodeSyncState(Automerge.encodeSyncState(prev)))
  }

  private onSync(from: number, data: Uint8Array, now: number): void {
    let state = this.syncStates.get(from) ?? Automerge.initSyncState()
    // The other side asks for specific changes: perhaps the message that carried them was
    // lost. Automerge never sends a change twice in one session, so start over.
    if (Automerge.decodeSyncMessage(data).need.length > 0)
      state = Automerge.decodeSyncState(Automerge.encodeSyncState(state))
    const inserted: unknown[] = []
    ;[this.doc, state] = Automerge.receiveSyncMessage(this.doc, state, data, {
      patchCallback: (patches) => insertedRecords(patches, inserted),
    })
    this.stats.applies++
    if (inserted.length > 0) {
      this.table.add(inserted)
      this.dirty = true
      this.requestTick(now + this.env.cfg.flushMs)
    }
    let reply: Uint8Array | null
    ;[state, reply] = Automerge.generateSyncMessage(this.doc, state)
    this.syncStates.set(from, state)
    if (reply !== null) {
      this.stats.syncMessages++
      this.send(from, { type: 'sync', data: reply }, now)
    }
  }

  // ---- ticks ----------------------------------------------------------------------------

  private requestTick(at: number): void {
    if (!this.up || at >= this.nextTickAt) return
    this.nextTickAt = at
    this.env.schedule(at, { type: 'tick', peer: this.index, incarnation: this.incarnation, at })
  }

  /** A scheduled tick fired. */
  onTick(ev: { incarnation: number; at: number }, now: number): void {
    if (!this.up || ev.incarnation !== this.incarnation || ev.at !== this.nextTickAt) return
    this.nextTickAt = Number.POSITIVE_INFINITY
    this.tick(now)
  }

  /** Merges what arrived, re-derives, lets the scheduler decide and carries out its actions. */
  tick(now: number): void {
    const local = this.localNow(now)
    this.mergeInbox()
    this.askForMissing(now)
    this.refresh(now, local)
    const actions: SchedulerAction[] = []
    for (const e of this.exits)
      for (const a of this.scheduler.runExited(this.table, e.ref, e.outcome, local)) actions.push(a)
    this.exits = []
    const decision = this.scheduler.decide(this.table, local)
    for (const a of decision.actions) actions.push(a)
    this.execute(actions, now, local)
    let wake = decision.wakeAt
    const deadline = this.table.nextDeadline()
    if (deadline !== undefined) wake = wake === null ? deadline + 1 : Math.min(wake, deadline + 1)
    if (wake !== null) this.requestTick(Math.max(now + 1, this.toVirtual(wake)))
  }

  private mergeInbox(): void {
    if (this.inboxChanges.length === 0) return
    const inserted: unknown[] = []
    ;[this.doc] = Automerge.applyChanges(this.doc, this.inboxChanges, {
      patchCallback: (patches) => insertedRecords(patches, inserted),
    })
    this.stats.applies++
    this.inboxChanges = []
    if (inserted.length > 0) {
      this.table.add(inserted)
      this.dirty = true
    }
  }

  /** Asks senders for changes their heads name that this peer lacks (dropped or reordered pushes). */
  private askForMissing(now: number): void {
    if (this.inboxHeads.size === 0) return
    const mine = this.heads()
    this.headsKey = mine.join()
    for (const [from, heads] of this.inboxHeads) {
      const key = heads.join()
      if (key === this.headsKey || this.satisfiedHeads.get(from) === key) continue
      const missing = Automerge.getMissingDeps(this.doc, heads as string[])
      if (missing.length === 0) {
        this.satisfiedHeads.set(from, key)
        continue
      }
      const ask: string[] = []
      let escalate = false
      for (const h of missing) {
        const w = this.wants.get(h)
        if (w !== undefined && now - w.at < this.env.cfg.wantRetryMs) continue
        const tries = (w?.tries ?? 0) + 1
        this.wants.set(h, { at: now, tries })
        ask.push(h)
        if (tries > 2) escalate = true
      }
      if (ask.length === 0) continue
      if (escalate) {
        // Asking hash by hash walks a long gap one change per round trip: sync instead.
        for (const h of ask) this.wants.set(h, { at: now, tries: 0 })
        this.startSync(from, now)
        continue
      }
      this.stats.wantsSent++
      this.send(from, { type: 'want', hashes: ask }, now)
    }
    this.inboxHeads.clear()
    if (this.wants.size > 1000)
      for (const [h, w] of this.wants) if (now - w.at > 10 * this.env.cfg.wantRetryMs) this.wants.delete(h)
  }

  private refresh(now: number, local: number): void {
    const changed = this.table.refresh(this.leases.view(local))
    if (this.table.takeActiveChanged()) this.leases.observe([...this.table.active()], local)
    if (changed.length > 0) this.env.checker.onDerived(this, changed, now)
  }

  private execute(actions: readonly SchedulerAction[], now: number, local: number): void {
    if (actions.length === 0) return
    const records: Uint8Array[] = []
    const starts: (SchedulerAction & { type: 'start' })[] = []
    for (const a of actions) {
      switch (a.type) {
        case 'renew': {
          for (const l of a.leases) this.leases.renew(l.job, l.generation, l.round, this.signer.id, local)
          this.broadcast({ type: 'renew', leases: a.leases, heads: this.heads() }, now)
          break
        }
        case 'stop': {
          const run = this.runs.get(a.job)
          if (run !== undefined) {
            this.runs.delete(a.job)
            this.env.checker.onRunStop(this, run.ref, now)
          }
          this.env.trace.add({
            at: now,
            peer: this.index,
            kind: 'stop',
            job: a.job,
            detail: `g${a.generation} r${a.round} ${a.reason}`,
          })
          break
        }
        default: {
          const bytes = encodeRecord(a.record, this.signer)
          records.push(bytes)
          if (a.type === 'start') starts.push(a)
          if (a.type === 'complete') this.env.checker.onCompleteWritten(this, a, bytes, now)
          this.env.trace.add({ at: now, peer: this.index, kind: a.type, job: a.job, detail: describe(a) })
        }
      }
    }
    if (records.length > 0) this.write(records, now, local)
    for (const s of starts) this.launch(s, now)
  }

  /** Appends records as one change, persists it, then pushes it to every peer. */
  private write(records: Uint8Array[], now: number, local: number): void {
    this.doc = appendRecords(this.doc, records, local)
    this.table.add(records)
    this.persistedHeads = this.heads()
    const change = Automerge.getLastLocalChange(this.doc)
    if (change !== undefined) this.broadcast({ type: 'changes', changes: [change], heads: this.persistedHeads }, now)
    this.requestTick(now + 1)
  }

  /**
   * Appends what an operator (or a forger) wrote through this peer's API (`POST /v1/ops`):
   * `edit` makes the change with the writer's own clock. Returns the appended record bytes.
   */
  applyExternal(edit: (doc: JobTable) => JobTable, now: number): Uint8Array[] {
    if (!this.up) return []
    const before = recordsOf(this.doc).length
    const next = edit(this.doc)
    if (next === this.doc) return []
    this.doc = next
    const added = recordsOf(this.doc).slice(before) as Uint8Array[]
    this.table.add(added)
    this.persistedHeads = this.heads()
    const change = Automerge.getLastLocalChange(this.doc)
    if (change !== undefined) this.broadcast({ type: 'changes', changes: [change], heads: this.persistedHeads }, now)
    this.requestTick(now + 1)
    return added
  }

  // ---- runs -----------------------------------------------------------------------------

  private launch(a: SchedulerAction & { type: 'start' }, now: number): void {
    const cfg = this.env.cfg
    const trainer = this.env.faults.has('trainer')
    const slow = trainer && this.trainerRng.chance(cfg.slowRate)
    const fails = trainer && this.trainerRng.chance(cfg.trainerFailRate)
    const base = this.env.workload.trainMs.get(a.job) ?? cfg.trainMinMs
    let duration = base * this.host.speed * (slow ? cfg.slowFactor : 1)
    if (fails) duration *= this.trainerRng.range(0.1, 1)
    const outcome: RunOutcome = fails
      ? { ok: false, error: 'trainer exited with code 1' }
      : {
          ok: true,
          bundle: `bafysim${a.job.slice(0, 24)}g${a.generation}`,
          valMacroF1: (Number.parseInt(a.job.slice(0, 4), 16) % 1000) / 1000,
          testMacroF1: (Number.parseInt(a.job.slice(4, 8), 16) % 1000) / 1000,
          fitSeconds: Math.round(duration) / 1000,
        }
    const runId = ++this.runCounter
    const ref = { job: a.job, generation: a.generation, round: a.round }
    this.runs.set(a.job, { runId, ref, outcome, startedAt: now })
    this.env.checker.onRunStart(this, ref, a.attempt, now)
    this.env.schedule(now + duration, { type: 'exit', peer: this.index, incarnation: this.incarnation, runId })
  }

  /** A trainer process exited. */
  onExit(ev: { incarnation: number; runId: number }, now: number): void {
    if (!this.up || ev.incarnation !== this.incarnation) return
    for (const run of this.runs.values()) {
      if (run.runId !== ev.runId) continue
      this.runs.delete(run.ref.job)
      this.env.checker.onRunStop(this, run.ref, now)
      this.env.trace.add({
        at: now,
        peer: this.index,
        kind: 'exit',
        job: run.ref.job,
        detail: `g${run.ref.generation} r${run.ref.round} ${run.outcome.ok ? 'ok' : 'code 1'}`,
      })
      this.exits.push({ ref: run.ref, outcome: run.outcome })
      this.tick(now)
      return
    }
  }

  // ---- anti-entropy, persistence, crash and restart -------------------------------------

  /** Periodic: persists merged changes, and sends this peer's heads to random peers. */
  onAntiEntropy(ev: { incarnation: number }, now: number): void {
    if (!this.up || ev.incarnation !== this.incarnation) return
    const cfg = this.env.cfg
    if (this.dirty && now - this.lastPersistAt >= cfg.persistMs) {
      this.persistedHeads = this.heads()
      this.lastPersistAt = now
      this.dirty = false
    }
    const n = this.peerIds.length
    if (n > 1) {
      const heads = this.heads()
      for (let k = 0; k < cfg.aeFanout; k++) {
        let to = this.rng.int(n - 1)
        if (to >= this.index) to++
        this.send(to, { type: 'heads', heads }, now)
      }
    }
    this.env.schedule(now + cfg.aeMs, { type: 'anti-entropy', peer: this.index, incarnation: this.incarnation })
  }

  /** Crash: everything not persisted is gone, and so are the runs. */
  crash(now: number): void {
    if (!this.up) return
    this.up = false
    for (const run of this.runs.values()) this.env.checker.onRunStop(this, run.ref, now)
    this.runs.clear()
    this.exits = []
    this.inboxChanges = []
    this.inboxHeads.clear()
    this.satisfiedHeads.clear()
    this.wants.clear()
    this.syncStates.clear()
    this.nextTickAt = Number.POSITIVE_INFINITY
    this.env.trace.add({ at: now, peer: -1, kind: 'crash', detail: `p${this.index}` })
  }

  /** Restart from the persisted document under a fresh actor; the caller opens sync sessions. */
  restart(now: number, incarnation: number): void {
    if (this.up) return
    const old = this.doc
    const persisted = Automerge.clone(Automerge.view(old, this.persistedHeads))
    const bytes = saveJobTable(persisted)
    Automerge.free(persisted)
    Automerge.free(old)
    this.incarnation = incarnation
    this.doc = loadJobTable(bytes, actorFor(this.env.seed, this.index, incarnation))
    this.persistedHeads = this.heads()
    this.table = new DerivedTable({ trust: this.env.trust })
    this.table.add(recordsOf(this.doc))
    this.leases = new LeaseTable({ leaseMs: this.env.cfg.leaseMs })
    this.scheduler = this.newScheduler()
    this.dirty = false
    this.up = true
    this.stats.restarts++
    this.env.trace.add({ at: now, peer: -1, kind: 'restart', detail: `p${this.index} (${bytes.length} B persisted)` })
    this.requestTick(now + 1)
    this.env.schedule(now + this.rng.range(0, this.env.cfg.aeMs), {
      type: 'anti-entropy',
      peer: this.index,
      incarnation,
    })
  }

  /** Queues an immediate tick (after an external change). */
  poke(now: number): void {
    this.requestTick(now + 1)
  }
}

function describe(a: SchedulerAction): string {
  switch (a.type) {
    case 'claim':
      return `g${a.generation} r${a.round} score=${a.score}`
    case 'lapse':
      return `g${a.generation} r${a.round} owner=${a.owner.slice(-6)}`
    case 'fail':
      return `g${a.generation} r${a.round} ${a.record.error}`
    case 'renew':
      return `${a.leases.length} leases`
    default:
      return `g${a.generation} r${a.round}`
  }
}
