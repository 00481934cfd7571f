import * as Automerge from '@automerge/automerge'
import {
  appendRecords,
  cancelRecords,
  type DerivedJob,
  encodeRecord,
  isTerminal,
  manifestRecords,
  requeueRecords,
  type Signer,
} from '../crdt/index.ts'
import type { JobSpec } from '../manifests/index.ts'
import type { PeerMessage } from '../node/index.ts'
import type { InvariantChecker } from './invariants.ts'
import type { SimPeer } from './peer.ts'
import type { Prng } from './prng.ts'
import type { Trace } from './trace.ts'
import { withId } from './workload.ts'

/** Counters of operator activity. */
export interface OperatorStats {
  loads: number
  cancels: number
  requeues: number
  forged: number
}

/** The kinds of forged commands the simulator tries. */
export const FORGERY_KINDS = ['cancel', 'requeue', 'new-job', 'reprioritise', 'tampered', 'impersonated'] as const
export type ForgeryKind = (typeof FORGERY_KINDS)[number]

/**
 * The fleet's operator, and the forgers: commands issued through some peer's API.
 *
 * @remarks The operator signs with the operator key and its own clock (its spec records'
 * `at` decide which spec is newest, so they must come from one clock, not from whichever
 * peer relayed them). Forgers are fleet members or strangers without the operator key;
 * every forged record must leave every peer's table unchanged, which the checker's
 * invariant 6 verifies against the commands the operator really issued.
 */
export class SimOperator {
  readonly stats: OperatorStats = { loads: 0, cancels: 0, requeues: 0, forged: 0 }
  private readonly signer: Signer
  private readonly forgers: readonly Signer[]
  private readonly rng: Prng
  private readonly checker: InvariantChecker
  private readonly trace: Trace
  private readonly clockOffset: number

  constructor(init: {
    signer: Signer
    forgers: readonly Signer[]
    rng: Prng
    checker: InvariantChecker
    trace: Trace
    clockOffset: number
  }) {
    this.signer = init.signer
    this.forgers = init.forgers
    this.rng = init.rng
    this.checker = init.checker
    this.trace = init.trace
    this.clockOffset = init.clockOffset
  }

  private clock(now: number): number {
    return Math.round(now + this.clockOffset)
  }

  /** Loads (or reloads) a manifest through `peer`. */
  load(peer: SimPeer, jobs: readonly JobSpec[], now: number): void {
    for (const j of jobs) this.checker.legitSpec(j)
    const t = this.clock(now)
    const { records } = manifestRecords(this.signer, { jobs: [...jobs] }, peer.table.jobs(), t)
    const accepted = peer.submit(records)?.accepted ?? 0
    this.stats.loads++
    this.trace.add({
      at: now,
      peer: -1,
      kind: 'operator load',
      detail: `${jobs.length} jobs via p${peer.index}, ${accepted} records`,
    })
  }

  /** Reloads the manifest: every job, with a few priorities changed. */
  reload(peer: SimPeer, jobs: readonly JobSpec[], now: number): void {
    const changed = jobs.map((j) => (this.rng.chance(0.05) ? withId({ ...j, priority: j.priority + 7 }) : j))
    this.load(peer, changed, now)
  }

  private pickJob(peer: SimPeer, want: (j: DerivedJob) => boolean): DerivedJob | undefined {
    const jobs = peer.table.jobs().filter(want)
    return jobs.length === 0 ? undefined : this.rng.pick(jobs)
  }

  /** Cancels a job that is not finished (as `peer` sees it). */
  cancel(peer: SimPeer, now: number): void {
    const job = this.pickJob(peer, (j) => !isTerminal(j.status))
    if (job === undefined) return
    this.checker.legitCancel(job.id, job.generation)
    const tc = this.clock(now)
    peer.submit(cancelRecords(this.signer, job, tc))
    this.stats.cancels++
    this.trace.add({
      at: now,
      peer: -1,
      kind: 'operator cancel',
      job: job.id,
      detail: `g${job.generation} via p${peer.index}`,
    })
  }

  /** Requeues a job: a finished one, or a running one with force. */
  requeue(peer: SimPeer, now: number): void {
    const job = this.pickJob(peer, (j) => j.status !== 'pending')
    if (job === undefined) return
    const force = !isTerminal(job.status)
    this.checker.legitRequeue(job.id, job.generation + 1)
    const tr = this.clock(now)
    peer.submit(requeueRecords(this.signer, job, { force }, tr))
    this.stats.requeues++
    this.trace.add({
      at: now,
      peer: -1,
      kind: 'operator requeue',
      job: job.id,
      detail: `g${job.generation}→g${job.generation + 1}${force ? ' --force' : ''} via p${peer.index}`,
    })
  }

  /**
   * A forged command of a random kind; it must change nothing. It is submitted through
   * `peer`'s API (which must refuse it) and also pushed by a hostile fleet member as an
   * ordinary Automerge change to every peer (which must append it, and ignore it).
   */
  forge(peer: SimPeer, now: number, hostile: HostileMember): void {
    const kind = this.rng.pick(FORGERY_KINDS)
    const forger = this.rng.pick(this.forgers)
    const t = this.clock(now)
    const job = this.pickJob(peer, () => true)
    if (job === undefined) return
    const records = this.forgedRecords(kind, forger, job, t)
    const verdict = peer.submit(records)
    if (verdict !== null && verdict.accepted > 0)
      this.checker.forgeryAccepted(`the API of p${peer.index} accepted a forged ${kind}`, job.id, now)
    const doc = Automerge.clone(peer.doc, { actor: hostile.actor() })
    const next = appendRecords(doc, records, t)
    const change = Automerge.getLastLocalChange(next)
    if (change !== undefined)
      hostile.push(peer.index, { type: 'changes', changes: [change], heads: Automerge.getHeads(next), records })
    Automerge.free(next)
    this.stats.forged++
    this.trace.add({
      at: now,
      peer: -1,
      kind: `forged ${kind}`,
      job: job.id,
      detail: `by ${forger.id.slice(-6)} via p${peer.index}`,
    })
  }

  private forgedRecords(kind: ForgeryKind, forger: Signer, job: DerivedJob, t: number): Uint8Array[] {
    switch (kind) {
      case 'cancel':
        return cancelRecords(forger, job, t)
      case 'requeue':
        return requeueRecords(forger, job, { force: true }, t)
      case 'new-job': {
        const { id: _id, ...body } = job.spec
        const spec = withId({ ...body, seed: body.seed + 1_000_000 })
        return manifestRecords(forger, { jobs: [spec] }, [], t).records
      }
      case 'reprioritise':
        return manifestRecords(forger, { jobs: [{ ...job.spec, priority: 1_000_000 }] }, [], t).records
      case 'tampered': {
        // An operator-signed cancel whose payload was altered after signing.
        const bytes = encodeRecord({ t: 'cancel', j: job.id, at: t, g: job.generation }, this.signer)
        const forged = Uint8Array.from(bytes)
        forged[forged.length - 3] = forged[forged.length - 3] === 0x30 ? 0x31 : 0x30
        return [forged]
      }
      case 'impersonated': {
        // Claims to be the operator, signed with another key.
        const liar: Signer = { id: this.signer.id, sign: (m) => forger.sign(m) }
        return [encodeRecord({ t: 'cancel', j: job.id, at: t, g: job.generation }, liar)]
      }
    }
  }
}

/** A fleet member that pushes hostile Automerge changes (it holds the swarm key, not the operator key). */
export interface HostileMember {
  /** A fresh Automerge actor for its next change. */
  actor(): string
  /** Sends `msg` to every peer, as if from a member next to `via`. */
  push(via: number, msg: PeerMessage): void
}
