import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { probeXgboost } from '../../models/gbt/index.ts'
import { runCliProcess } from '../helpers/cli.ts'
import * as views from './fleet-views.ts'
import { type Attempt, byId, idOf, type JobDetail, type JobRow, type Worker } from './fleet-views.ts'
import { netnsUnavailable, sweepLeftovers } from './netns.ts'
import { NetnsFleet, type NsNode } from './netns-fleet.ts'

// A real multi-host fleet on the kernel's networking: one `cis490-node start` per network
// namespace, the namespaces on one bridge (in a namespace of its own), peers finding each
// other by mDNS only. Scenarios run in sequence on the one fleet: mdns, crash, partition,
// intruder. Run alone with `npm run test:netns`; `CIS490_E2E_LOGS=DIR` keeps every node.log.

const HOSTS = ['store', 'cpu', 'nogbt', 'plain'] as const
/** The fifth namespace: the intruder, then the host without an operator key. */
const OUTSIDER = 'outsider'
const LEASE_S = 6
const POLICIES = '[hosts.cpu]\nallow_jobs = ["knn", "knn_semi"]\n\n[hosts.nogbt]\ndeny_jobs = ["gbt"]\n'
/** Which models each host's policy lets it run. */
const MAY_RUN: Record<string, (model: string) => boolean> = {
  store: () => true,
  cpu: (m) => m === 'knn' || m === 'knn_semi',
  nogbt: (m) => m !== 'gbt',
  plain: () => true,
}

const SPLIT = 'split = { test_hosts = ["k-gamingcom"] }'
const job = (model: string, mode: string, hyper: string, extra = '') =>
  `[[jobs]]\nmodel = "${model}"\nmode = "${mode}"\nhyper = ${hyper}\n${SPLIT}\n${extra}\n`
const TINY_MLP = '{ epochs = 3, hidden = 16, layers = 1 }'
/**
 * An mlp that trains for several seconds (no early stop), long enough to be caught mid-run;
 * `seed` (the network's, not the split's: the tiny dataset has an empty val split at some
 * split seeds) makes another job id.
 */
const longMlp = (seed: number) =>
  `{ epochs = 200, hidden = 256, layers = 2, batch_size = 8, patience = 200, seed = ${seed} }`

const CI = process.env.CI === 'true'
const unavailable = netnsUnavailable()
if (unavailable !== null) {
  const text = `\n*** e2e netns fleet: CANNOT CREATE NETWORK NAMESPACES: ${unavailable}\n*** the mdns, crash, partition and intruder scenarios do not run here${CI ? ' (CI=true: failing)' : ''}\n`
  process.stderr.write(text)
}

describe('a fleet in network namespaces', { timeout: 720_000, skip: unavailable !== null && !CI }, () => {
  let fleet: NetnsFleet
  /** Runs from the start in the fifth namespace, with another swarm key. */
  let intruder: NsNode
  /** Jobs the operator reloaded so far: the fleet's table must hold exactly these. */
  let reloaded = 0
  let gbt = false
  /** Set when the previous scenario passed: each scenario builds on the fleet the last left. */
  let ready = false
  const t0 = Date.now()
  const log = (text: string) => process.stderr.write(`e2e +${((Date.now() - t0) / 1000).toFixed(1)}s ${text}\n`)

  const reload = async (name: string, jobs: string) => {
    const file = fleet.manifest(name, jobs)
    const r = await fleet.cli('store', ['reload', file, '--key', fleet.operatorKey])
    assert.equal(r.code, 0, `reload ${name}: ${r.stderr}`)
    reloaded += jobs.split('[[jobs]]').length - 1
    return file
  }
  const jobsOf = (host: string) => views.jobsOf(fleet, host)
  const detailOf = (host: string, id: string) => views.detailOf(fleet, host, id)
  const converged = (hosts: readonly string[], what: string, ms: number) => views.converged(fleet, hosts, what, ms)
  const trainerOf = (id: string, hosts: readonly string[]) => views.trainerOf(fleet, id, hosts)
  const explain = (id: string) => views.explain(fleet, id)
  const storeHolds = (rows: readonly JobRow[]) => views.storeHolds(fleet, 'store', rows)
  before(async () => {
    if (unavailable !== null) throw new Error(`network namespaces unavailable (CI=true): ${unavailable}`)
    const swept = sweepLeftovers()
    if (swept.namespaces.length + swept.dirs.length > 0)
      log(`removed leftovers of dead runs: ${[...swept.namespaces, ...swept.dirs].join(' ')}`)
    gbt = probeXgboost().available
    if (!gbt) {
      if (CI) throw new Error('XGBoost does not load (CI=true): .ci/run installs libxgboost0')
      log('*** XGBoost does not load here: the fleet runs no gbt jobs')
    }
    fleet = await NetnsFleet.create([...HOSTS, OUTSIDER], { hostPolicies: POLICIES, leaseS: LEASE_S })
    const synth = runCliProcess([
      'dataset',
      'synth',
      '--out',
      join(fleet.dir, 'data'),
      '--episodes',
      '12',
      '--windows',
      '6',
      '--features',
      '16',
      '--realistic-features',
      '10',
      '--classes',
      '3',
    ])
    assert.equal(synth.code, 0, synth.stderr)
    const manifest = fleet.manifest('fleet.toml')
    // No --bootstrap anywhere: the peers can only meet by mDNS.
    const started = Promise.all(
      HOSTS.map((h) =>
        fleet.start(h, {
          manifest,
          args: h === 'store' ? ['--operator-key', fleet.operatorKey, '--store'] : [],
        }),
      ),
    )
    // The intruder: the fleet's manifest and dataset (it would train the fleet's jobs if it got
    // them) and its mDNS service, but another swarm key. It stays up through every scenario.
    const intruding = fleet.start(OUTSIDER, {
      manifest,
      swarmKey: fleet.newSwarmKey('other-swarm.key'),
      dataDir: join(fleet.dir, 'intruder'),
      logLevel: 'debug',
    })
    ;[, intruder] = await Promise.all([started, intruding])
    log(`started ${HOSTS.join(', ')} and the intruder in ${fleet.dir}`)
  })

  after(async () => {
    await fleet?.close()
    log('namespaces, nodes and temp dir removed')
  })

  it('mdns: peers find each other by mDNS alone; a signed reload runs every job on an eligible host; the store pins every bundle; every namespace shows the same table', async () => {
    await fleet.until(
      'every node reaches the 3 others',
      async () => {
        const views = await Promise.all(HOSTS.map((h) => fleet.api<Worker[]>(h, '/v1/workers')))
        return views.every((w) => new Set(w.filter((x) => x.reachable).map((x) => x.hostname)).size === HOSTS.length)
      },
      90_000,
    )
    log('mdns: every node reaches every other')
    const jobs = [
      job('knn', 'realistic', '{ k = 3 }'),
      job('knn', 'oracle', '{ k = 3 }'),
      job('knn_semi', 'realistic', '{ k = 3 }'),
      job('knn_semi', 'oracle', '{ k = 3 }'),
      job('mlp', 'realistic', TINY_MLP),
      job('mlp', 'oracle', TINY_MLP),
      ...(gbt
        ? [
            job('gbt', 'oracle', '{ num_boost_round = 5, nthread = 1 }'),
            job('gbt', 'realistic', '{ num_boost_round = 5, nthread = 1 }'),
          ]
        : []),
    ]
    await reload('fast.toml', jobs.join('\n'))
    let rows: JobRow[] = []
    await fleet.until(
      `all ${jobs.length} jobs completed`,
      async () => {
        rows = await jobsOf('store')
        return rows.length === jobs.length && rows.every((j) => j.status === 'completed')
      },
      240_000,
    )
    log(`mdns: ${rows.length} jobs completed on ${[...new Set(rows.map((j) => j.host))].join(', ')}`)
    for (const j of rows) {
      assert.ok(
        j.host !== null && MAY_RUN[j.host]?.(j.model),
        `${j.model} ${j.mode} ran on ${j.host}, which may run it`,
      )
      assert.match(j.bundle ?? '', /^bafy/)
    }
    // The store peer fetched and pinned every bundle, and listed each once.
    assert.deepEqual(await storeHolds(rows), rows.map((j) => `${j.id}:${j.bundle}`).sort())
    // `cis490-node jobs --json`, run in every namespace, prints one table.
    await converged(HOSTS, 'every API shows one table', 60_000)
    const tables = await Promise.all(HOSTS.map((h) => fleet.cliJson<JobRow[]>(h, ['jobs'])))
    for (let i = 1; i < HOSTS.length; i++) assert.deepEqual(tables[i], tables[0], `${HOSTS[i]} and store agree`)
    assert.equal(tables[0].length, jobs.length)
    ready = true
  })

  it('crash: a host SIGKILLed mid-training loses its job after the lease; another host completes it; the host restarts and converges', async () => {
    assert.ok(ready, 'runs on the fleet the mdns scenario left')
    ready = false
    const before = byId(await jobsOf('store'))
    // Only nogbt and plain may run it: the survivor among them takes it over.
    await reload('crash.toml', job('mlp', 'oracle', longMlp(0), 'allowed_hosts = ["nogbt", "plain"]'))
    const rows = await jobsOf('store')
    const id = idOf(rows, (j) => !before.has(j.id), 'new')
    const victim = await trainerOf(id, ['nogbt', 'plain'])
    const survivor = victim === 'nogbt' ? 'plain' : 'nogbt'
    const crashedAt = Date.now()
    await fleet.crash(victim)
    assert.deepEqual(fleet.trainingJobs(victim), [], 'the crash took the trainer too')
    log(`crash: SIGKILLed ${victim} while it trained ${id.slice(0, 12)}`)
    let detail: JobDetail | undefined
    await fleet.until(
      `${survivor} completes ${id.slice(0, 12)}`,
      async () => {
        detail = await detailOf('store', id)
        return detail.status === 'completed'
      },
      150_000,
    )
    const d = detail as JobDetail
    log(`crash: ${survivor} completed it; attempts ${d.attempts.map((a) => `${a.host}:${a.outcome}`).join(', ')}`)
    assert.equal(d.host, survivor)
    const first = d.attempts[0]
    const last = d.attempts[d.attempts.length - 1]
    assert.equal(first.host, victim)
    assert.equal(first.outcome, 'lapsed')
    assert.equal(last.host, survivor)
    assert.equal(last.outcome, 'completed')
    assert.equal(last.attempt, 2, 'the lapsed run used an attempt')
    const takeover = (await detailOf('store', id)).attempts.at(-1) as Attempt
    // Renewals come every lease/3: the lease can have been renewed at most that long before the kill.
    assert.ok(
      takeover.claimed_at >= crashedAt + (LEASE_S * 1000 * 2) / 3 - 500,
      `taken over ${takeover.claimed_at - crashedAt} ms after the crash, not before the lease lapsed`,
    )
    // The restarted host needs no flags but its data dir (its fleet.toml is saved), and rejoins by mDNS.
    await fleet.start(victim)
    await converged(HOSTS, `${victim} rejoins and converges`, 90_000)
    const views = await fleet.api<Worker[]>(victim, '/v1/workers')
    assert.equal(new Set(views.filter((w) => w.reachable).map((w) => w.hostname)).size, HOSTS.length)
    ready = true
  })

  /**
   * Isolates the host that trains a new long job, by `how`, until both sides completed it,
   * then heals and checks the fleet converged, kept every result and shows both runs.
   */
  const partition = async (how: 'cut' | 'ingress', seed: number, allowed: readonly string[]) => {
    const before = await jobsOf('store')
    const completedBefore = before.filter((j) => j.status === 'completed')
    const hosts = `allowed_hosts = [${allowed.map((h) => `"${h}"`).join(', ')}]`
    await reload(`partition-${how}.toml`, job('mlp', 'oracle', longMlp(seed), hosts))
    const id = idOf(await jobsOf('store'), (j) => !before.some((b) => b.id === j.id), 'new')
    const eligible = allowed.filter((h) => MAY_RUN[h]('mlp'))
    const isolated = await trainerOf(id, eligible)
    const others = HOSTS.filter((h) => h !== isolated)
    const cutAt = Date.now()
    if (how === 'cut') fleet.lan.cut(isolated)
    else fleet.lan.dropIngress(isolated)
    log(`partition (${how}): ${isolated} isolated while it trains ${id.slice(0, 12)}`)
    let away: JobRow | undefined
    let home: JobRow | undefined
    let during: JobRow | undefined
    try {
      // The operator's side takes commands meanwhile: a job reloaded now runs on the store's side of the cut.
      const known = await jobsOf('store')
      await reload(`during-${how}.toml`, job('knn', 'realistic', `{ k = ${seed + 10} }`))
      const duringId = idOf(await jobsOf('store'), (j) => !known.some((b) => b.id === j.id), 'reloaded meanwhile')
      // Both sides keep working: the isolated host finishes its run, the others take the job over and finish it too.
      await fleet
        .until(
          'both sides complete the job, and the store the one reloaded meanwhile',
          async () => {
            during = byId(await jobsOf('store')).get(duringId)
            if (during?.status !== 'completed') return false
            away ??= byId(await jobsOf(isolated)).get(id)
            if (away?.status !== 'completed') away = undefined
            home ??= byId(await jobsOf(others[0])).get(id)
            if (home?.status !== 'completed') home = undefined
            return away !== undefined && home !== undefined
          },
          180_000,
        )
        .catch(async (err) => {
          throw new Error(`${(err as Error).message}\n${await explain(id)}`)
        })
      assert.equal(away?.host, isolated, 'the isolated side completed its own run')
      assert.notEqual(home?.host, isolated, 'the connected side completed the job without the isolated host')
      assert.equal(
        during?.host === isolated,
        isolated === 'store',
        `the job reloaded meanwhile ran on the store's side (${during?.host})`,
      )
      assert.ok(Date.now() - cutAt > LEASE_S * 1000, 'the partition lasted longer than a lease')
      const separate = await Promise.all([jobsOf(isolated), jobsOf(others[0])])
      assert.notDeepEqual(separate[0], separate[1], 'the two sides really were apart')
    } finally {
      if (how === 'cut') fleet.lan.plug(isolated)
      else fleet.lan.restoreIngress(isolated)
    }
    log(`partition (${how}): healed after ${((Date.now() - cutAt) / 1000).toFixed(1)} s`)
    const table = await converged(HOSTS, `one table after the ${how} heals`, 120_000)
    const healed = byId(table)
    for (const j of completedBefore) {
      assert.equal(healed.get(j.id)?.status, 'completed', `${j.id.slice(0, 12)} is still completed`)
      assert.equal(healed.get(j.id)?.bundle, j.bundle, `${j.id.slice(0, 12)} keeps its bundle`)
    }
    assert.equal(healed.get(during?.id ?? '')?.bundle, during?.bundle, 'the job reloaded meanwhile kept its result')
    const result = healed.get(id) as JobRow
    assert.equal(result.status, 'completed')
    assert.ok([away?.bundle, home?.bundle].includes(result.bundle), 'the result is one of the two runs')
    // The overlapping runs are both in the job's history, on every peer.
    const details = await Promise.all(HOSTS.map((h) => detailOf(h, id)))
    for (const [i, d] of details.entries()) {
      const done = d.attempts.filter((a) => a.outcome === 'completed')
      assert.deepEqual(
        new Set(done.map((a) => a.host)),
        new Set([isolated, home?.host]),
        `${HOSTS[i]} shows both completed runs: ${JSON.stringify(d.attempts)}`,
      )
      assert.deepEqual(d.attempts, details[0].attempts, `${HOSTS[i]} and ${HOSTS[0]} show one history`)
    }
    const shown = await fleet.cli('plain', ['show', id])
    assert.equal(shown.code, 0, shown.stderr)
    for (const h of [isolated, home?.host as string])
      assert.match(shown.stdout, new RegExp(`\\b${h}\\b.*completed`), `\`show\` lists ${h}'s completed run`)
    log(`partition (${how}): converged; both runs shown: ${details[0].attempts.map((a) => `${a.host}:${a.outcome}`)}`)
  }

  it('partition: a host cut off for longer than a lease, then one whose ingress is dropped: both sides work, heal into one table, keep every result and show the overlapping runs', async () => {
    assert.ok(ready, 'runs on the fleet the crash scenario left')
    ready = false
    // Any host that may run an mlp, then (so that a host other than the store is cut off too) nogbt or plain.
    await partition('cut', 1, HOSTS)
    await partition('ingress', 2, ['nogbt', 'plain'])
    // The store holds every result, the crash's and the partitions' included.
    await storeHolds(await jobsOf('store'))
    ready = true
  })

  it('intruder: a host with another swarm key sees and changes nothing; a host without the operator key cannot cancel, requeue or reload', async () => {
    assert.ok(ready, 'runs on the fleet the partition scenario left')
    // A job no host may run: it stays pending, something to cancel.
    await reload('pending.toml', job('knn', 'realistic', '{ k = 5 }', 'allowed_hosts = ["nowhere"]'))
    const snapshot = await converged(HOSTS, 'one table before the intruders', 60_000)
    const pendingId = idOf(snapshot, (j) => j.status === 'pending', 'pending')
    const completedId = snapshot.find((j) => j.status === 'completed')?.id as string

    // 1. The intruder has run since the start: it found the fleet by mDNS, could connect to no one.
    assert.match(intruder.stderr, /dial of a discovered peer failed/, 'the intruder discovered fleet peers')
    const [itsJobs, itsWorkers] = await Promise.all([
      fleet.cliJson<JobRow[]>(OUTSIDER, ['jobs']),
      fleet.cliJson<Worker[]>(OUTSIDER, ['workers']),
    ])
    assert.deepEqual(itsJobs, [], 'the intruder sees no job')
    assert.deepEqual(
      itsWorkers.map((w) => w.peer_id),
      [intruder.peerId],
      'the intruder knows no peer but itself',
    )
    assert.equal(snapshot.length, reloaded, "the fleet's table holds the operator's jobs and no others")
    for (const h of HOSTS) {
      const ws = await fleet.api<Worker[]>(h, '/v1/workers')
      assert.ok(!ws.some((w) => w.peer_id === intruder.peerId), `${h} never lists the intruder`)
    }
    for (const j of snapshot) {
      const d = await detailOf('store', j.id)
      assert.ok(
        !d.attempts.some((a) => a.owner === intruder.peerId),
        `no attempt of ${j.id.slice(0, 12)} is the intruder's`,
      )
    }
    assert.equal(await fleet.stop(OUTSIDER), 0)
    assert.deepEqual(await jobsOf('store'), snapshot, "the fleet's table did not change")
    log('intruder: the other swarm key saw nothing and changed nothing')

    // 2. The right swarm key, its own key as its operator key: it spreads records signed by a key no one else trusts.
    const rogueKey = await fleet.newKey('rogue.key')
    const rogueManifest = fleet.manifest('rogue.toml', '', {
      // The fleet's key too: the test sends a marker through the rogue's API after its commands.
      operatorKeys: [rogueKey.id, fleet.setup.operatorId],
      dataset: 'no-dataset-here',
    })
    const rogue = await fleet.start(OUTSIDER, { manifest: rogueManifest, dataDir: join(fleet.dir, 'rogue') })
    await fleet.until(
      'the rogue host joins and holds the table',
      async () => {
        const ids = new Set((await jobsOf(OUTSIDER)).map((j) => j.id))
        const ws = await fleet.api<Worker[]>('store', '/v1/workers')
        return snapshot.every((j) => ids.has(j.id)) && ws.some((w) => w.peer_id === rogue.peerId && w.reachable)
      },
      90_000,
    )
    // Through its own API the rogue's commands enter its table (and so the document every peer
    // syncs); through an honest node's API the same key is refused at once.
    const rogueJobs = fleet.manifest('rogue-jobs.toml', job('knn', 'oracle', '{ k = 7 }'))
    const [refused, ...ops] = await Promise.all([
      fleet.cli('plain', ['cancel', pendingId, '--key', rogueKey.file]),
      ...[
        ['cancel', pendingId],
        ['requeue', completedId],
        ['reload', rogueJobs],
      ].map((args) => fleet.cli(OUTSIDER, [...args, '--key', rogueKey.file])),
    ])
    assert.equal(refused.code, 1, refused.stderr)
    assert.match(refused.stderr, /refused/)
    for (const r of ops) assert.equal(r.code, 0, `the rogue's own API takes its command: ${r.stderr}`)
    const rogueView = byId(await jobsOf(OUTSIDER))
    assert.equal(rogueView.get(pendingId)?.status, 'cancelled', 'the rogue itself applies its cancel')
    assert.equal(
      rogueView.get(completedId)?.generation,
      (byId(snapshot).get(completedId)?.generation ?? 0) + 1,
      'the rogue itself applies its requeue',
    )
    assert.equal(rogueView.size, snapshot.length + 1, 'the rogue itself applies its reload')
    // A marker job signed by the real operator, written by the rogue after its commands: a peer
    // holding it holds the rogue's earlier changes too.
    const marker = fleet.manifest('marker.toml', job('knn', 'realistic', '{ k = 9 }', 'allowed_hosts = ["nowhere"]'))
    const sent = await fleet.cli(OUTSIDER, ['reload', marker, '--key', fleet.operatorKey])
    assert.equal(sent.code, 0, sent.stderr)
    const markerId = idOf(await jobsOf(OUTSIDER), (j) => !rogueView.has(j.id), 'the marker')
    await fleet.until(
      'every honest peer holds the marker',
      async () => (await Promise.all(HOSTS.map(jobsOf))).every((t) => t.some((j) => j.id === markerId)),
      60_000,
    )
    const tables = await Promise.all(HOSTS.map((h) => fleet.cliJson<JobRow[]>(h, ['jobs'])))
    for (const [i, t] of tables.entries()) {
      assert.deepEqual(
        t.filter((j) => j.id !== markerId),
        snapshot,
        `${HOSTS[i]} refused the rogue's cancel, requeue and reload`,
      )
    }
    log('intruder: the non-operator commands changed no honest peer')
  })
})
