import type { DerivedJob, LocalView, TrustConfig } from './derive.ts'
import { deriveRecords } from './derive.ts'
import { MinHeap } from './min-heap.ts'
import { decodeRecord } from './records.ts'

interface Deadline {
  at: number
  id: string
  generation: number
  round: number
  owner: string
}

interface Entry {
  readonly records: Uint8Array[]
  readonly keys: Set<string>
  derived: DerivedJob | undefined
}

/** A job whose lease lapsed by this peer's observations while the document alone still shows it active. */
export interface LocallyLapsed {
  /** The job as this peer derives it (pending, or failed on the final attempt). */
  readonly job: DerivedJob
  /** The job as the document alone says (claimed or running), naming the owner whose lease lapsed. */
  readonly recorded: DerivedJob
}

const NEVER_LAPSED = (now: number, leaseMs: number): LocalView => ({ now, leaseMs, lastSeen: () => undefined })

function byPriority(a: DerivedJob, b: DerivedJob): number {
  return b.spec.priority - a.spec.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

function isActive(j: DerivedJob | undefined): j is DerivedJob {
  return j !== undefined && (j.status === 'claimed' || j.status === 'running') && j.owner !== null
}

/**
 * `deriveJobs`, kept up to date incrementally: records are added as they arrive and only
 * the jobs they touch (or whose lease deadline passed) are derived again.
 *
 * @remarks Every job's fields equal what `deriveJobs(doc, view, trust)` gives at the
 * `view` of the last `refresh`, except `leaseExpiresAt`, which is refreshed lazily (it
 * may lag behind renewals; the status is exact). Jobs are independent in derivation,
 * so deriving one job's records alone is exact. The caller feeds every record of its
 * document (the patches of each merge, or the whole log after a load) and calls
 * `refresh` before reading: a renewal never needs a refresh, only a passing deadline
 * does, which `nextDeadline` reports. No clock of its own.
 */
export class DerivedTable {
  private readonly trust: TrustConfig
  private readonly entries = new Map<string, Entry>()
  private readonly dirty = new Set<string>()
  private readonly heap = new MinHeap<Deadline>((a, b) => a.at < b.at)
  /** The one live deadline per job; older heap entries for the job are stale. */
  private readonly scheduled = new Map<string, Deadline>()
  private readonly pendingJobs: DerivedJob[] = []
  private readonly activeJobs = new Map<string, DerivedJob>()
  private readonly activeByOwner = new Map<string, Map<string, DerivedJob>>()
  private readonly lapsedJobs = new Map<string, LocallyLapsed>()
  private recordCount = 0
  private jobTotal = 0

  constructor(init: { trust: TrustConfig }) {
    this.trust = init.trust
  }

  /** Adds record bytes (duplicates, forgeries and junk are ignored). Returns how many were new. */
  add(records: Iterable<unknown>): number {
    let added = 0
    for (const bytes of records) {
      const v = decodeRecord(bytes)
      if (v === null) continue
      let entry = this.entries.get(v.record.j)
      if (entry === undefined) {
        entry = { records: [], keys: new Set(), derived: undefined }
        this.entries.set(v.record.j, entry)
      }
      if (entry.keys.has(v.key)) continue
      entry.keys.add(v.key)
      entry.records.push(bytes as Uint8Array)
      this.dirty.add(v.record.j)
      added++
    }
    this.recordCount += added
    return added
  }

  /** Forces `id` to be derived again at the next refresh (e.g. a renewal revived a lease seen as lapsed). */
  touch(id: string): void {
    if (this.entries.has(id)) this.dirty.add(id)
  }

  /** Whether anything waits for a `refresh` (new records or touched jobs). */
  get stale(): boolean {
    return this.dirty.size > 0
  }

  /**
   * Derives again the jobs whose records changed and those whose lease deadline passed by `view.now`.
   * @returns the jobs whose derivation was replaced, in no particular order.
   */
  refresh(view: LocalView): DerivedJob[] {
    this.expireLeases(view)
    const changed: DerivedJob[] = []
    for (const id of this.dirty) {
      const entry = this.entries.get(id) as Entry
      const before = entry.derived
      const after = deriveRecords(entry.records, view, this.trust)[0]
      entry.derived = after
      if (before === undefined && after !== undefined) this.jobTotal++
      else if (before !== undefined && after === undefined) this.jobTotal--
      this.reindex(id, before, after, view)
      if (after !== undefined) changed.push(after)
    }
    this.dirty.clear()
    return changed
  }

  private expireLeases(view: LocalView): void {
    for (let next = this.heap.peek(); next !== undefined && next.at < view.now; next = this.heap.peek()) {
      const d = this.heap.pop() as Deadline
      if (this.scheduled.get(d.id) !== d) continue
      this.scheduled.delete(d.id)
      const job = this.entries.get(d.id)?.derived
      if (!isActive(job) || job.generation !== d.generation || job.round !== d.round || job.owner !== d.owner) continue
      const seen = view.lastSeen(d.id, d.generation, d.round, d.owner) ?? view.now
      const expires = seen + view.leaseMs
      if (view.now <= expires) {
        // Renewed since: keep it, with the newer deadline.
        const renewed = { ...job, leaseExpiresAt: expires }
        ;(this.entries.get(d.id) as Entry).derived = renewed
        this.setActive(d.id, renewed)
        this.push({ ...d, at: expires })
      } else {
        this.dirty.add(d.id)
      }
    }
  }

  private reindex(id: string, before: DerivedJob | undefined, after: DerivedJob | undefined, view: LocalView): void {
    if (before?.status === 'pending') this.removePending(before)
    if (after?.status === 'pending') this.insertPending(after)
    const wasActive = this.activeJobs.has(id)
    if (isActive(after)) {
      this.setActive(id, after)
      const at = after.leaseExpiresAt ?? view.now + view.leaseMs
      this.push({ at, id, generation: after.generation, round: after.round, owner: after.owner as string })
    } else if (wasActive) {
      this.unsetActive(id)
      this.scheduled.delete(id)
    }
    this.lapsedJobs.delete(id)
    if (after !== undefined && (after.status === 'pending' || after.status === 'failed') && after.round > 0) {
      const entry = this.entries.get(id) as Entry
      const recorded = deriveRecords(entry.records, NEVER_LAPSED(view.now, view.leaseMs), this.trust)[0]
      if (isActive(recorded)) this.lapsedJobs.set(id, { job: after, recorded })
    }
  }

  private setActive(id: string, job: DerivedJob): void {
    this.unsetActive(id)
    this.activeJobs.set(id, job)
    const owner = job.owner as string
    let mine = this.activeByOwner.get(owner)
    if (mine === undefined) {
      mine = new Map()
      this.activeByOwner.set(owner, mine)
    }
    mine.set(id, job)
  }

  private unsetActive(id: string): void {
    const prev = this.activeJobs.get(id)
    if (prev === undefined) return
    this.activeJobs.delete(id)
    const mine = this.activeByOwner.get(prev.owner as string)
    mine?.delete(id)
    if (mine?.size === 0) this.activeByOwner.delete(prev.owner as string)
  }

  private findPending(job: DerivedJob): number {
    const list = this.pendingJobs
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (byPriority(list[mid], job) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  private insertPending(job: DerivedJob): void {
    this.pendingJobs.splice(this.findPending(job), 0, job)
  }

  private removePending(job: DerivedJob): void {
    const i = this.findPending(job)
    if (i < this.pendingJobs.length && this.pendingJobs[i].id === job.id) this.pendingJobs.splice(i, 1)
  }

  /** One job as last refreshed, or undefined when unknown (or without a valid spec). */
  get(id: string): DerivedJob | undefined {
    return this.entries.get(id)?.derived
  }

  /** Every job, ordered as `deriveJobs` orders them (priority, then id). */
  jobs(): DerivedJob[] {
    const out: DerivedJob[] = []
    for (const e of this.entries.values()) if (e.derived !== undefined) out.push(e.derived)
    return out.sort(byPriority)
  }

  /** Every job, in no particular order (cheaper than `jobs()`). */
  *all(): Iterable<DerivedJob> {
    for (const e of this.entries.values()) if (e.derived !== undefined) yield e.derived
  }

  /** Pending jobs, highest priority first, then by id. Do not mutate. */
  pending(): readonly DerivedJob[] {
    return this.pendingJobs
  }

  /** Claimed and running jobs (as `LeaseTable.observe` wants them). */
  active(): Iterable<DerivedJob> {
    return this.activeJobs.values()
  }

  /** Claimed and running jobs whose current round `peer` owns. */
  owned(peer: string): Iterable<DerivedJob> {
    return this.activeByOwner.get(peer)?.values() ?? []
  }

  /** Jobs this peer saw lapse whose documents still show the lapsed owner active. */
  lapsed(): Iterable<LocallyLapsed> {
    return this.lapsedJobs.values()
  }

  /** The earliest time at which a lease may lapse (call `refresh` after it), or undefined. */
  nextDeadline(): number | undefined {
    let next = this.heap.peek()
    while (next !== undefined && this.scheduled.get(next.id) !== next) {
      this.heap.pop()
      next = this.heap.peek()
    }
    return next?.at
  }

  /** How many jobs have a valid spec. */
  get jobCount(): number {
    return this.jobTotal
  }

  /** How many jobs are claimed or running. */
  get activeCount(): number {
    return this.activeJobs.size
  }

  /** How many distinct valid records the table holds. */
  get size(): number {
    return this.recordCount
  }

  /** Whether the table holds the record with this key (hex signature, as `decodeRecord` gives). */
  hasRecord(job: string, key: string): boolean {
    return this.entries.get(job)?.keys.has(key) === true
  }

  /** The record bytes held for one job (for checks and tests). */
  recordsOf(job: string): readonly Uint8Array[] {
    return this.entries.get(job)?.records ?? []
  }

  private push(d: Deadline): void {
    this.scheduled.set(d.id, d)
    this.heap.push(d)
  }
}
