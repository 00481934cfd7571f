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
    const added = peer.applyExternal(
      (doc) => appendRecords(doc, manifestRecords(this.signer, { jobs: [...jobs] }, peer.table.jobs(), t).records, t),
      now,
    )
    this.stats.loads++
    this.trace.add({
      at: now,
      peer: -1,
      kind: 'operator load',
      detail: `${jobs.length} jobs via p${peer.index}, ${added.length} records`,
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
    peer.applyExternal((doc) => appendRecords(doc, cancelRecords(this.signer, job, tc), tc), now)
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
    peer.applyExternal((doc) => appendRecords(doc, requeueRecords(this.signer, job, { force }, tr), tr), now)
    this.stats.requeues++
    this.trace.add({
      at: now,
      peer: -1,
      kind: 'operator requeue',
      job: job.id,
      detail: `g${job.generation}→g${job.generation + 1}${force ? ' --force' : ''} via p${peer.index}`,
    })
  }

  /** A forged command of a random kind through `peer`; it must change nothing. */
  forge(peer: SimPeer, now: number): void {
    const kind = this.rng.pick(FORGERY_KINDS)
    const forger = this.rng.pick(this.forgers)
    const t = this.clock(now)
    const job = this.pickJob(peer, () => true)
    if (job === undefined) return
    peer.applyExternal((doc) => {
      switch (kind) {
        case 'cancel':
          return appendRecords(doc, cancelRecords(forger, job, t), t)
        case 'requeue':
          return appendRecords(doc, requeueRecords(forger, job, { force: true }, t), t)
        case 'new-job': {
          const { id: _id, ...body } = job.spec
          const spec = withId({ ...body, seed: body.seed + 1_000_000 })
          return appendRecords(doc, manifestRecords(forger, { jobs: [spec] }, [], t).records, t)
        }
        case 'reprioritise':
          return appendRecords(
            doc,
            manifestRecords(forger, { jobs: [{ ...job.spec, priority: 1_000_000 }] }, [], t).records,
            t,
          )
        case 'tampered': {
          // An operator-signed cancel whose payload was altered after signing.
          const bytes = encodeRecord({ t: 'cancel', j: job.id, at: t, g: job.generation }, this.signer)
          const forged = Uint8Array.from(bytes)
          forged[forged.length - 3] = forged[forged.length - 3] === 0x30 ? 0x31 : 0x30
          return appendRecords(doc, [forged], t)
        }
        case 'impersonated': {
          // Claims to be the operator, signed with another key.
          const liar: Signer = { id: this.signer.id, sign: (m) => forger.sign(m) }
          return appendRecords(doc, [encodeRecord({ t: 'cancel', j: job.id, at: t, g: job.generation }, liar)], t)
        }
      }
    }, now)
    this.stats.forged++
    this.trace.add({
      at: now,
      peer: -1,
      kind: `forged ${kind}`,
      job: job.id,
      detail: `by ${forger.id.slice(-6)} via p${peer.index}`,
    })
  }
}
