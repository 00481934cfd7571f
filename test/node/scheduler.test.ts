import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  appendRecords,
  createJobTable,
  type DerivedJob,
  DerivedTable,
  encodeRecord,
  type JobTable,
  LeaseTable,
  manifestRecords,
  recordsOf,
  type Signer,
  type TrustConfig,
} from '../../crdt/index.ts'
import { type HostPolicy, type JobSpec, jobId, parseManifest } from '../../manifests/index.ts'
import {
  type HostCapability,
  type RoundRef,
  Scheduler,
  type SchedulerAction,
  type SchedulerInit,
  tableView,
} from '../../node/index.ts'
import { makeSigners } from '../helpers/job-table.ts'

const LEASE = 10_000
const INIT: SchedulerInit = {
  settleMs: 1000,
  renewMs: 3000,
  backoffBaseMs: 2000,
  backoffMaxMs: 16_000,
  lapseStaggerMs: 500,
}
const CPU: Omit<HostCapability, 'hostname'> = {
  cuda: false,
  vram_gib: 0,
  ram_gib: 16,
  cores: 8,
  runtimes: ['xgboost', 'tfjs'],
}
const GPU: Omit<HostCapability, 'hostname'> = {
  cuda: true,
  vram_gib: 24,
  ram_gib: 64,
  cores: 16,
  runtimes: ['xgboost', 'tfjs'],
}

function manifest(jobs: string[], hosts = ''): JobSpec[] {
  const text = `[fleet]\nname = "t"\ndataset = "d"\n${hosts}\n${jobs.map((j) => `[[jobs]]\nmode = "m"\n${j}`).join('\n')}`
  return parseManifest(text, 'test.toml').jobs
}

/**
 * One document shared by every peer of a test (as if gossip were instant), each peer with
 * its own lease observations; records are signed by the peer that writes them.
 */
class World {
  doc: JobTable
  readonly trust: TrustConfig
  private readonly leases = new Map<string, LeaseTable>()

  constructor(op: Signer, jobs: JobSpec[], hosts: ReadonlyMap<string, HostPolicy> = new Map()) {
    this.trust = { operatorKeys: new Set([op.id]), hosts }
    this.doc = appendRecords(createJobTable(), manifestRecords(op, { jobs }, [], 0).records, 0)
  }

  leasesOf(peer: string): LeaseTable {
    let l = this.leases.get(peer)
    if (l === undefined) {
      l = new LeaseTable({ leaseMs: LEASE })
      this.leases.set(peer, l)
    }
    return l
  }

  /** The table as `peer` derives it at `now`. */
  table(peer: string, now: number): DerivedTable {
    const t = new DerivedTable({ trust: this.trust })
    t.add(recordsOf(this.doc))
    const leases = this.leasesOf(peer)
    t.refresh(leases.view(now))
    leases.observe(t.jobs(), now)
    return t
  }

  /** Carries out a peer's actions: appends its records and applies its renewals everywhere. */
  apply(signer: Signer, actions: readonly SchedulerAction[], now: number): void {
    const records: Uint8Array[] = []
    for (const a of actions) {
      if (a.type === 'renew') {
        for (const l of this.leases.values())
          for (const r of a.leases) l.renew(r.job, r.generation, r.round, signer.id, now)
      } else if (a.type !== 'stop') records.push(encodeRecord(a.record, signer))
    }
    this.doc = appendRecords(this.doc, records, now)
  }

  job(id: string, now = 0): DerivedJob {
    return this.table('observer', now).get(id) as DerivedJob
  }
}

class Peer {
  readonly signer: Signer
  scheduler: Scheduler
  readonly cap: HostCapability
  private readonly world: World

  constructor(world: World, signer: Signer, cap: HostCapability, init: SchedulerInit = INIT, seed = 1) {
    this.world = world
    this.signer = signer
    this.cap = cap
    let x = seed
    const random = () => {
      x = (x * 1103515245 + 12345) % 2147483648
      return x / 2147483648
    }
    this.scheduler = new Scheduler({ peerId: signer.id, capability: cap, hosts: world.trust.hosts, random }, init)
  }

  decide(now: number, opts?: { mayClaim?: boolean }) {
    const d = this.scheduler.decide(this.world.table(this.signer.id, now), now, opts)
    this.world.apply(this.signer, d.actions, now)
    return d
  }

  exit(ref: RoundRef, ok: boolean, now: number) {
    const outcome = ok
      ? ({ ok: true, bundle: 'bafyresult', valMacroF1: 0.5, testMacroF1: 0.4, fitSeconds: 1 } as const)
      : ({ ok: false, error: 'trainer exited with code 1' } as const)
    const actions = this.scheduler.runExited(this.world.table(this.signer.id, now), ref, outcome, now)
    this.world.apply(this.signer, actions, now)
    return actions
  }
}

const types = (actions: readonly SchedulerAction[]) => actions.map((a) => a.type).sort()
const ofType = <T extends SchedulerAction['type']>(actions: readonly SchedulerAction[], t: T) =>
  actions.filter((a): a is Extract<SchedulerAction, { type: T }> => a.type === t)

describe('Scheduler', async () => {
  const [op, s1, s2, s3] = await makeSigners(4)

  describe('gating', () => {
    const cases: { name: string; job: string; cap: Omit<HostCapability, 'hostname'>; hosts?: string; ok: boolean }[] = [
      { name: 'require_cuda on a host without CUDA', job: 'model = "mlp"\nrequire_cuda = true', cap: CPU, ok: false },
      { name: 'require_cuda on a CUDA host', job: 'model = "mlp"\nrequire_cuda = true', cap: GPU, ok: true },
      { name: 'min_vram_gib above the host', job: 'model = "mlp"\nmin_vram_gib = 32', cap: GPU, ok: false },
      { name: 'min_ram_gib above the host', job: 'model = "knn"\nmin_ram_gib = 32', cap: CPU, ok: false },
      { name: 'allowed_hosts without the host', job: 'model = "knn"\nallowed_hosts = ["other"]', cap: CPU, ok: false },
      { name: 'allowed_hosts with the host', job: 'model = "knn"\nallowed_hosts = ["h1"]', cap: CPU, ok: true },
      { name: 'gbt without XGBoost', job: 'model = "gbt"', cap: { ...CPU, runtimes: ['tfjs'] }, ok: false },
      {
        name: 'host policy denying the model',
        job: 'model = "knn"',
        cap: CPU,
        hosts: 'deny_jobs = ["knn"]',
        ok: false,
      },
      {
        name: 'host policy allowing other models',
        job: 'model = "knn"',
        cap: CPU,
        hosts: 'allow_jobs = ["gbt"]',
        ok: false,
      },
      {
        name: 'host policy allowing the model',
        job: 'model = "knn"',
        cap: CPU,
        hosts: 'allow_jobs = ["knn"]',
        ok: true,
      },
    ]
    for (const c of cases) {
      it(`${c.ok ? 'claims' : 'does not claim'}: ${c.name}`, () => {
        const text = c.hosts === undefined ? '' : `[hosts.h1]\n${c.hosts}`
        const jobs = manifest([c.job], text)
        const hosts =
          c.hosts === undefined
            ? new Map()
            : parseManifest(`[fleet]\nname = "t"\ndataset = "d"\n${text}`, 'h.toml').hosts
        const world = new World(op, jobs, hosts)
        const d = new Peer(world, s1, { ...c.cap, hostname: 'h1' }).decide(0)
        assert.equal(ofType(d.actions, 'claim').length, c.ok ? 1 : 0)
      })
    }
  })

  it('claims the highest priority first and never more than max_concurrent', () => {
    const jobs = manifest(
      [
        'model = "knn"\nseed = 1\npriority = 1',
        'model = "knn"\nseed = 2\npriority = 9',
        'model = "knn"\nseed = 3\npriority = 5',
      ],
      '[hosts.h1]\nmax_concurrent = 2',
    )
    const world = new World(
      op,
      jobs,
      parseManifest('[fleet]\nname = "t"\ndataset = "d"\n[hosts.h1]\nmax_concurrent = 2', 'h').hosts,
    )
    const p = new Peer(world, s1, { ...CPU, hostname: 'h1' })
    const claims = ofType(p.decide(0).actions, 'claim')
    assert.deepEqual(
      claims.map((c) => world.job(c.job).spec.priority),
      [9, 5],
    )
    assert.equal(ofType(p.decide(10).actions, 'claim').length, 0, 'at max_concurrent')
  })

  it('starts only after the settle window, renews at once and then every renewMs', () => {
    const world = new World(op, manifest(['model = "knn"']))
    const p = new Peer(world, s1, { ...CPU, hostname: 'h1' })
    const first = p.decide(0)
    assert.deepEqual(types(first.actions), ['claim', 'renew'])
    assert.equal(first.wakeAt, 1000)
    assert.deepEqual(types(p.decide(999).actions), [])
    const start = p.decide(1000)
    assert.deepEqual(types(start.actions), ['start'])
    assert.equal(world.job(ofType(start.actions, 'start')[0].job).status, 'running')
    assert.equal(start.wakeAt, 3000, 'next renewal')
    assert.deepEqual(types(p.decide(2999).actions), [])
    const renew = ofType(p.decide(3000).actions, 'renew')
    assert.equal(renew.length, 1)
    assert.equal(renew[0].leases.length, 1)
  })

  it('a peer that lost the tie does not start, backs off, and the winner starts', () => {
    const world = new World(op, manifest(['model = "mlp"']))
    const weak = new Peer(world, s1, { ...CPU, hostname: 'cpu' })
    const strong = new Peer(world, s2, { ...GPU, hostname: 'gpu' })
    const a = ofType(weak.decide(0).actions, 'claim')[0]
    // The strong peer claimed the same round before it saw the weak peer's claim.
    const job = world.job(a.job)
    world.apply(strong.signer, [], 0)
    const strongClaim = encodeRecord({ t: 'claim', j: job.id, at: 5, g: 0, r: 1, score: 2e9, host: 'gpu' }, s2)
    world.doc = appendRecords(world.doc, [strongClaim], 5)
    assert.equal(world.job(job.id).owner, s2.id)
    const settled = weak.decide(1000)
    assert.deepEqual(types(settled.actions), [], 'the loser does not start')
    assert.equal(weak.scheduler.claiming.length, 0)
    // The winner gives the round back: the loser backs off before claiming it again.
    world.doc = appendRecords(world.doc, [encodeRecord({ t: 'release', j: job.id, at: 1100, g: 0, r: 1 }, s2)], 1100)
    assert.equal(world.job(job.id).status, 'pending')
    const backedOff = weak.decide(1200)
    assert.equal(ofType(backedOff.actions, 'claim').length, 0)
    assert.ok(
      backedOff.wakeAt !== null && backedOff.wakeAt >= 2000 && backedOff.wakeAt < 4000,
      `wake ${backedOff.wakeAt}`,
    )
    assert.equal(ofType(weak.decide(backedOff.wakeAt ?? 0).actions, 'claim').length, 1)
  })

  it('stops a run when it loses a late tie, and when the job is cancelled, requeued or superseded', () => {
    for (const event of ['late-tie', 'cancel', 'requeue', 'superseded'] as const) {
      const world = new World(op, manifest(['model = "knn"']))
      const p = new Peer(world, s1, { ...CPU, hostname: 'h1' })
      p.decide(0)
      const start = ofType(p.decide(1000).actions, 'start')[0]
      const id = start.job
      const rec =
        event === 'late-tie'
          ? encodeRecord({ t: 'claim', j: id, at: 1500, g: 0, r: 1, score: 1e12, host: 'h2' }, s2)
          : event === 'cancel'
            ? encodeRecord({ t: 'cancel', j: id, at: 1500, g: 0 }, op)
            : event === 'requeue'
              ? encodeRecord({ t: 'requeue', j: id, at: 1500, g: 1, force: true }, op)
              : encodeRecord({ t: 'claim', j: id, at: 1500, g: 0, r: 2, score: 1, host: 'h2' }, s2)
      world.doc = appendRecords(world.doc, [rec], 1500)
      const stops = ofType(p.decide(1600).actions, 'stop')
      const reason = { 'late-tie': 'lost-tie', cancel: 'cancelled', requeue: 'requeued', superseded: 'superseded' }[
        event
      ]
      assert.deepEqual(
        stops.map((s) => s.reason),
        [reason],
        event,
      )
      assert.equal(p.scheduler.running.length, 0)
    }
  })

  it('stops a run that someone else completed, and does not record a second result', () => {
    const world = new World(op, manifest(['model = "knn"']))
    const p = new Peer(world, s1, { ...CPU, hostname: 'h1' })
    p.decide(0)
    const start = ofType(p.decide(1000).actions, 'start')[0]
    const other = encodeRecord(
      { t: 'complete', j: start.job, at: 1500, g: 0, r: 1, bundle: 'b', val: 1, test: 1, fit_s: 1, host: 'h1' },
      s1,
    )
    // The same peer's own result recorded elsewhere (e.g. before a restart) completes the job.
    world.doc = appendRecords(world.doc, [other], 1500)
    assert.deepEqual(
      ofType(p.decide(1600).actions, 'stop').map((s) => s.reason),
      ['completed-elsewhere'],
    )
    assert.deepEqual(p.exit(start, true, 1700), [])
  })

  it('records a result or a failure when the trainer exits; a failure uses an attempt', () => {
    const world = new World(op, manifest(['model = "knn"\nmax_attempts = 2']))
    const p = new Peer(world, s1, { ...CPU, hostname: 'h1' })
    p.decide(0)
    const start = ofType(p.decide(1000).actions, 'start')[0]
    const fail = p.exit(start, false, 2000)
    assert.deepEqual(types(fail), ['fail'])
    assert.equal(world.job(start.job, 2000).status, 'pending')
    assert.equal(world.job(start.job, 2000).attempt, 2)
    // Backed off from the job it failed; another peer takes it and completes it.
    const q = new Peer(world, s2, { ...CPU, hostname: 'h2' })
    assert.equal(ofType(p.decide(2001).actions, 'claim').length, 0)
    q.decide(2001)
    const start2 = ofType(q.decide(3001).actions, 'start')[0]
    assert.equal(start2.attempt, 2)
    assert.deepEqual(types(q.exit(start2, true, 4000)), ['complete'])
    const done = world.job(start.job, 4000)
    assert.equal(done.status, 'completed')
    assert.equal(done.bundle, 'bafyresult')
    assert.equal(done.host, 'h2')
  })

  it('after a restart, fails its interrupted run and releases its unstarted claim', () => {
    const world = new World(
      op,
      manifest(['model = "knn"\nseed = 1', 'model = "knn"\nseed = 2'], '[hosts.h1]\nmax_concurrent = 2'),
    )
    const hosts = parseManifest('[fleet]\nname = "t"\ndataset = "d"\n[hosts.h1]\nmax_concurrent = 2', 'h').hosts
    const w2 = new World(op, manifest(['model = "knn"\nseed = 1', 'model = "knn"\nseed = 2']), hosts)
    w2.doc = world.doc
    const p = new Peer(w2, s1, { ...CPU, hostname: 'h1' })
    const claims = ofType(p.decide(0).actions, 'claim')
    assert.equal(claims.length, 2)
    const started = p.decide(1000).actions
    assert.equal(ofType(started, 'start').length, 2)
    // Mark one job as only claimed by rewriting history: a fresh claim in a fresh world.
    const restarted = new Peer(w2, s1, { ...CPU, hostname: 'h1' })
    const after = restarted.decide(1100, { mayClaim: false })
    assert.deepEqual(types(after.actions), ['fail', 'fail'])
    assert.ok(ofType(after.actions, 'fail').every((f) => f.record.error.includes('restarted')))
    assert.deepEqual(types(restarted.decide(1200, { mayClaim: false }).actions), [], 'asks only once')

    const w3 = new World(op, manifest(['model = "knn"']))
    new Peer(w3, s3, { ...CPU, hostname: 'h3' }).decide(0)
    const back = new Peer(w3, s3, { ...CPU, hostname: 'h3' }).decide(500, { mayClaim: false })
    assert.deepEqual(types(back.actions), ['release'])
    assert.equal(w3.job(ofType(back.actions, 'release')[0].job, 500).status, 'pending')
  })

  it('does not claim while mayClaim is false', () => {
    const world = new World(op, manifest(['model = "knn"']))
    assert.deepEqual(types(new Peer(world, s1, { ...CPU, hostname: 'h1' }).decide(0, { mayClaim: false }).actions), [])
  })

  it('records the lapse of a final attempt whose owner stopped renewing, after a stagger', () => {
    const world = new World(op, manifest(['model = "knn"\nmax_attempts = 1']))
    const owner = new Peer(world, s1, { ...CPU, hostname: 'h1' })
    const observer = new Peer(world, s2, { ...CPU, hostname: 'h2' })
    owner.decide(0)
    owner.decide(1000)
    // The observer first sees the round at 1000; the owner then dies silently.
    assert.deepEqual(types(observer.decide(1000).actions), [])
    const lapsedAt = 1000 + LEASE + 1
    const first = observer.decide(lapsedAt)
    const lapses = ofType(first.actions, 'lapse')
    if (lapses.length === 0) {
      assert.ok(first.wakeAt !== null && first.wakeAt <= lapsedAt + 500, `stagger wake ${first.wakeAt}`)
      const second = observer.decide(first.wakeAt ?? lapsedAt)
      lapses.push(...ofType(second.actions, 'lapse'))
    }
    assert.equal(lapses.length, 1)
    assert.equal(lapses[0].owner, s1.id)
    // Every peer now derives the job failed, whatever its lease observations.
    assert.equal(world.table('fresh-peer', 0).get(lapses[0].job)?.status, 'failed')
  })

  it('spreads peers over equal-priority jobs (rendezvous order)', () => {
    const jobs = manifest(Array.from({ length: 20 }, (_, i) => `model = "knn"\nseed = ${i}`))
    const world = new World(op, jobs)
    const picks = new Set<string>()
    for (let i = 0; i < 12; i++) {
      const signer: Signer = { id: `12D3KooWFake${i}`, sign: () => new Uint8Array(64) }
      const s = new Scheduler({ peerId: signer.id, capability: { ...CPU, hostname: `h${i}` }, random: () => 0.5 }, INIT)
      const claim = ofType(s.decide(world.table(signer.id, 0), 0).actions, 'claim')[0]
      picks.add(claim.job)
    }
    assert.ok(picks.size >= 7, `12 peers picked only ${picks.size} distinct jobs`)
  })

  it('works over plain deriveJobs arrays (tableView) as the node will use it', () => {
    const world = new World(op, manifest(['model = "knn"']))
    const table = world.table(s1.id, 0)
    const s = new Scheduler({ peerId: s1.id, capability: { ...CPU, hostname: 'h1' }, random: () => 0.5 }, INIT)
    const d = s.decide(tableView(table.jobs()), 0)
    assert.deepEqual(types(d.actions), ['claim', 'renew'])
  })

  it('does not claim a job this version cannot run (unknown model or hypers); derives it all the same', () => {
    const [knn] = manifest(['model = "knn"\nseed = 1\npriority = 1'])
    const world = new World(op, [knn])
    const future = [
      { ...knn, seed: 2, priority: 9, model: 'future-model' },
      { ...knn, seed: 3, priority: 9, model: '__proto__' },
      { ...knn, seed: 4, priority: 9, hyper: { k: 3, new_knob: true } },
    ].map((s) => ({ ...s, id: jobId(s) }))
    world.doc = appendRecords(world.doc, manifestRecords(op, { jobs: future }, [], 1).records, 1)
    for (const f of future) assert.equal(world.job(f.id, 1).status, 'pending')
    const p = new Peer(world, s1, { ...CPU, hostname: 'h1' }, { ...INIT, maxConcurrent: 4 })
    const claims = ofType(p.decide(2).actions, 'claim')
    assert.deepEqual(
      claims.map((c) => c.job),
      [knn.id],
    )
  })

  it('keeps its maps bounded: once jobs finish, sizes() holds nothing of them', () => {
    const jobs = manifest(Array.from({ length: 24 }, (_, i) => `model = "knn"\nseed = ${i}\npriority = ${i % 3}`))
    const world = new World(op, jobs)
    const init = { ...INIT, pruneMs: 5000 }
    const peers = [
      new Peer(world, s1, { ...CPU, hostname: 'h1' }, init, 1),
      new Peer(world, s2, { ...CPU, hostname: 'h2' }, init, 2),
      new Peer(world, s3, { ...GPU, hostname: 'h3' }, init, 3),
    ]
    let failed = 0
    let now = 0
    let peak = 0
    for (; now < 400_000; now += 500) {
      for (const p of peers) {
        p.decide(now)
        // Every run ends 1.5 s after it starts; every fourth fails (and backs the peer off).
        for (const run of p.scheduler.running) {
          const job = world.job(run.job, now)
          if (job.status === 'running' && job.owner === p.signer.id && now % 1500 === 0)
            p.exit(run, failed++ % 4 !== 0, now)
        }
        const s = p.scheduler.sizes()
        peak = Math.max(peak, s.backoffs + s.written + s.order)
      }
      if (jobs.every((j) => ['completed', 'failed'].includes(world.job(j.id, now).status))) break
    }
    assert.ok(
      jobs.every((j) => ['completed', 'failed'].includes(world.job(j.id, now).status)),
      'every job finished',
    )
    assert.ok(peak > 0, 'the maps were used')
    for (let t = now + 500; t <= now + 6000; t += 500) for (const p of peers) p.decide(t)
    for (const p of peers)
      assert.deepEqual(p.scheduler.sizes(), { claims: 0, runs: 0, backoffs: 0, lapseDue: 0, written: 0, order: 0 })
  })

  it('releaseAll gives back claims and runs without using an attempt', () => {
    const world = new World(op, manifest(['model = "knn"\nseed = 1', 'model = "knn"\nseed = 2'], ''))
    const hosts = parseManifest('[fleet]\nname = "t"\ndataset = "d"\n[hosts.h1]\nmax_concurrent = 2', 'h').hosts
    const w = new World(op, manifest(['model = "knn"\nseed = 1', 'model = "knn"\nseed = 2']), hosts)
    w.doc = world.doc
    const p = new Peer(w, s1, { ...CPU, hostname: 'h1' })
    p.decide(0)
    p.decide(1000)
    const out = p.scheduler.releaseAll(1500)
    w.apply(s1, out, 1500)
    assert.deepEqual(types(out), ['release', 'release', 'stop', 'stop'])
    for (const r of ofType(out, 'release')) {
      assert.equal(w.job(r.job, 1500).status, 'pending')
      assert.equal(w.job(r.job, 1500).attempt, 1)
    }
  })
})
