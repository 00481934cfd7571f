import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { type DerivedJob, type JobStatus, manifestRecords, type Signer } from '../../crdt/index.ts'
import type { JobId } from '../../manifests/index.ts'
import { DEFAULT_PEER_INIT, type HostCapability, PeerCore, type PeerMessage } from '../../node/index.ts'
import { type BlockCounts, type CoreCounts, type NetCounts, NodeMetrics } from '../../node/metrics/index.ts'
import { ProcessTrainer } from '../../node/worker/process-trainer.ts'
import { runCliProcess } from '../helpers/cli.ts'
import { makeSigners, manifestWithJobs } from '../helpers/job-table.ts'
import { NodeFleet, type TestNode } from '../helpers/node-fleet.ts'
import { BlockPeers, swarmKey, waitFor, writeTree } from './blocks-fixture.ts'

const CAP: HostCapability = {
  hostname: 'box',
  cuda: false,
  vram_gib: 0,
  ram_gib: 16,
  cores: 4,
  runtimes: ['xgboost', 'tfjs'],
}

const LEASE_MS = 6000

/** One metric family of a Prometheus text exposition. */
interface Family {
  type: string
  help: string
  samples: { name: string; labels: Record<string, string>; value: number }[]
}

/**
 * Parses the Prometheus text format (0.0.4) strictly: every line a HELP, a TYPE or a sample
 * of a family declared before it; names and label names valid; label values escaped.
 */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline')
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (meta !== null) {
      const [, kind, name, rest] = meta
      const f = families.get(name) ?? { type: 'untyped', help: '', samples: [] }
      if (kind === 'TYPE') {
        assert.match(rest, /^(counter|gauge|histogram|summary|untyped)$/, line)
        assert.equal(f.samples.length, 0, `TYPE of ${name} before its samples`)
        f.type = rest
      } else f.help = rest
      families.set(name, f)
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.ok(m !== null, `a sample line: ${JSON.stringify(line)}`)
    const [, name, labelText, valueText] = m
    const labels: Record<string, string> = {}
    if (labelText !== undefined && labelText !== '') {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\["\\n])*)"(,|$)/y
      let at = 0
      while (at < labelText.length) {
        re.lastIndex = at
        const l = re.exec(labelText)
        assert.ok(l !== null, `labels of ${JSON.stringify(line)}`)
        labels[l[1]] = l[2].replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c))
        at = re.lastIndex
      }
    }
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText)
    assert.ok(/^nan$/i.test(valueText) || !Number.isNaN(value), `a number: ${line}`)
    const base = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '')
    const f = families.get(base)
    assert.ok(f !== undefined && f.type !== 'untyped', `sample ${name} of a declared family`)
    if (base !== name) assert.ok(f.type === 'histogram' || f.type === 'summary', `${name} of a histogram`)
    f.samples.push({ name, labels, value })
  }
  return families
}

/** The value of the one sample `name` whose labels include `labels`, or undefined. */
function sample(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const base = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '')
  const hits = (families.get(base)?.samples ?? []).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )
  assert.ok(hits.length <= 1, `one sample of ${name} ${JSON.stringify(labels)}`)
  return hits[0]?.value
}

/** Parts whose counters the test sets by hand. */
function fakeParts() {
  const jobs: { status: JobStatus }[] = []
  const state: { net: NetCounts | null; blocks: BlockCounts | null; core: CoreCounts | null } = {
    net: null,
    blocks: null,
    core: null,
  }
  const metrics = new NodeMetrics(
    {
      selfId: 'me',
      sources: {
        jobs: () => jobs,
        core: () => state.core,
        net: () => state.net,
        blocks: () => state.blocks,
        lapsed: () => [],
      },
    },
    { processMetrics: false },
  )
  return { jobs, state, metrics }
}

describe('NodeMetrics against fake parts', () => {
  it('names, types and labels follow the Prometheus conventions; values read the parts at scrape time', async () => {
    const { jobs, state, metrics } = fakeParts()
    let families = parsePrometheus(await metrics.text())
    // Before the parts run: every series is there, at 0.
    for (const status of ['pending', 'claimed', 'running', 'completed', 'failed', 'cancelled'])
      assert.equal(sample(families, 'cis490_jobs', { status }), 0, status)
    assert.equal(sample(families, 'cis490_peers_connected'), 0)
    assert.equal(sample(families, 'cis490_sync_messages_total', { direction: 'in', channel: 'gossip' }), 0)
    const expected: Record<string, string> = {
      cis490_jobs: 'gauge',
      cis490_claims_total: 'counter',
      cis490_lease_lapses_total: 'counter',
      cis490_sync_messages_total: 'counter',
      cis490_sync_bytes_total: 'counter',
      cis490_sync_sessions_total: 'counter',
      cis490_sync_messages_refused_total: 'counter',
      cis490_peers_connected: 'gauge',
      cis490_blocks_fetched_total: 'counter',
      cis490_blocks_fetched_bytes_total: 'counter',
      cis490_blocks_served_total: 'counter',
      cis490_blocks_served_bytes_total: 'counter',
      cis490_blocks_stored: 'gauge',
      cis490_blocks_stored_bytes: 'gauge',
      cis490_bundles_pinned: 'gauge',
      cis490_trainer_runs_total: 'counter',
      cis490_trainer_run_duration_seconds: 'histogram',
    }
    for (const [name, type] of Object.entries(expected)) {
      assert.equal(families.get(name)?.type, type, `${name} is a ${type}`)
      assert.ok((families.get(name)?.help ?? '') !== '', `${name} has help`)
    }
    for (const [name, f] of families) {
      assert.match(name, /^cis490_[a-z_]+$/)
      if (f.type === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`)
      if (f.type !== 'counter') assert.doesNotMatch(name, /_total$/, `${f.type} ${name} does not`)
    }
    assert.equal(families.has('process_cpu_seconds_total'), false, 'process metrics were turned off')

    jobs.push({ status: 'pending' }, { status: 'pending' }, { status: 'running' }, { status: 'completed' })
    state.net = {
      gossipIn: 7,
      gossipOut: 5,
      messagesIn: 3,
      messagesOut: 2,
      bytesIn: 4096,
      bytesOut: 1024,
      connected: 2,
    }
    state.blocks = {
      fetchedBlocks: 10,
      fetchedBytes: 10_000,
      servedBlocks: 4,
      servedBytes: 4000,
      storedBlocks: 12,
      storedBytes: 12_345,
      pinned: 1,
    }
    state.core = { dropped: 3, replica: { syncSessions: 2 } }
    metrics.runEnded({ model: 'knn', outcome: 'completed', seconds: 12.5 })
    metrics.runEnded({ model: 'knn', outcome: 'completed', seconds: 40 })
    metrics.runEnded({ model: 'gbt', outcome: 'failed', seconds: 0.4 })
    families = parsePrometheus(await metrics.text())
    assert.equal(sample(families, 'cis490_jobs', { status: 'pending' }), 2)
    assert.equal(sample(families, 'cis490_jobs', { status: 'running' }), 1)
    assert.equal(sample(families, 'cis490_jobs', { status: 'completed' }), 1)
    assert.equal(sample(families, 'cis490_jobs', { status: 'failed' }), 0)
    assert.equal(sample(families, 'cis490_sync_messages_total', { direction: 'in', channel: 'gossip' }), 7)
    assert.equal(sample(families, 'cis490_sync_messages_total', { direction: 'out', channel: 'gossip' }), 5)
    assert.equal(sample(families, 'cis490_sync_messages_total', { direction: 'in', channel: 'direct' }), 3)
    assert.equal(sample(families, 'cis490_sync_messages_total', { direction: 'out', channel: 'direct' }), 2)
    assert.equal(sample(families, 'cis490_sync_bytes_total', { direction: 'in' }), 4096)
    assert.equal(sample(families, 'cis490_sync_bytes_total', { direction: 'out' }), 1024)
    assert.equal(sample(families, 'cis490_sync_sessions_total'), 2)
    assert.equal(sample(families, 'cis490_sync_messages_refused_total'), 3)
    assert.equal(sample(families, 'cis490_peers_connected'), 2)
    assert.equal(sample(families, 'cis490_blocks_fetched_total'), 10)
    assert.equal(sample(families, 'cis490_blocks_fetched_bytes_total'), 10_000)
    assert.equal(sample(families, 'cis490_blocks_served_total'), 4)
    assert.equal(sample(families, 'cis490_blocks_served_bytes_total'), 4000)
    assert.equal(sample(families, 'cis490_blocks_stored'), 12)
    assert.equal(sample(families, 'cis490_blocks_stored_bytes'), 12_345)
    assert.equal(sample(families, 'cis490_bundles_pinned'), 1)
    assert.equal(sample(families, 'cis490_trainer_runs_total', { model: 'knn', outcome: 'completed' }), 2)
    assert.equal(sample(families, 'cis490_trainer_runs_total', { model: 'gbt', outcome: 'failed' }), 1)
    const knn = { model: 'knn', outcome: 'completed' }
    assert.equal(sample(families, 'cis490_trainer_run_duration_seconds_count', knn), 2)
    assert.equal(sample(families, 'cis490_trainer_run_duration_seconds_sum', knn), 52.5)
    assert.equal(sample(families, 'cis490_trainer_run_duration_seconds_bucket', { ...knn, le: '5' }), 0)
    assert.equal(sample(families, 'cis490_trainer_run_duration_seconds_bucket', { ...knn, le: '15' }), 1)
    assert.equal(sample(families, 'cis490_trainer_run_duration_seconds_bucket', { ...knn, le: '60' }), 2)
    assert.equal(sample(families, 'cis490_trainer_run_duration_seconds_bucket', { ...knn, le: '+Inf' }), 2)

    // Counters mirror the parts' totals: scraping twice does not add them up again.
    families = parsePrometheus(await metrics.text())
    assert.equal(sample(families, 'cis490_sync_bytes_total', { direction: 'in' }), 4096)
    assert.equal(sample(families, 'cis490_blocks_fetched_total'), 10)
    assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/)
  })

  it('exports the default process metrics under their standard names when asked', async () => {
    const metrics = new NodeMetrics({
      selfId: 'me',
      sources: { jobs: () => [], core: () => null, net: () => null, blocks: () => null, lapsed: () => [] },
    })
    const families = parsePrometheus(await metrics.text())
    assert.equal(families.get('process_cpu_seconds_total')?.type, 'counter')
    assert.equal(families.get('nodejs_heap_size_used_bytes')?.type, 'gauge')
    assert.ok((sample(families, 'process_resident_memory_bytes') ?? 0) > 0)
    // Two nodes in one process keep their metrics apart.
    const other = fakeParts()
    other.jobs.push({ status: 'failed' })
    assert.equal(sample(parsePrometheus(await other.metrics.text()), 'cis490_jobs', { status: 'failed' }), 1)
    assert.equal(sample(families, 'cis490_jobs', { status: 'failed' }), 0)
  })
})

/** Two real peer cores on a manual clock and a hand-delivered network, each with its metrics. */
function twoCores(signers: Signer[], operator: Signer) {
  const clock = { t: 1_700_000_000_000, now: () => clock.t }
  const init = { ...DEFAULT_PEER_INIT, settleMs: 1000, decideMs: 10, leaseMs: LEASE_MS, renewMs: 2000 }
  const peers = signers.map((signer, i) => {
    const outbox: { to: string | null; msg: PeerMessage }[] = []
    let core: PeerCore | null = null
    const metrics = new NodeMetrics(
      {
        selfId: signer.id,
        sources: {
          jobs: () => core?.jobs() ?? [],
          core: () => core?.stats ?? null,
          net: () => null,
          blocks: () => null,
          lapsed: () => core?.table.lapsed() ?? [],
        },
      },
      { processMetrics: false },
    )
    core = new PeerCore(
      {
        clock,
        random: () => 0.5,
        signer,
        capability: CAP,
        trust: { operatorKeys: new Set([operator.id]) },
        actor: `${i + 1}`.repeat(32),
        effects: (batch) => {
          for (const e of batch) {
            if (e.type === 'send') outbox.push({ to: e.to, msg: e.msg })
            if (e.type === 'broadcast') outbox.push({ to: null, msg: e.msg })
          }
        },
        observer: metrics.peerObserver,
      },
      init,
    )
    return { core, metrics, outbox, online: true }
  })
  const [a, b] = peers
  a.core.connected(b.core.id)
  b.core.connected(a.core.id)
  /** Hands every queued message to its peer (a peer offline loses what it sends). */
  const deliver = () => {
    for (let moved = true; moved; ) {
      moved = false
      for (const p of peers) {
        const out = p.outbox.splice(0)
        for (const { msg } of out) {
          moved = true
          if (!p.online) continue
          for (const q of peers) if (q !== p && q.online) q.core.receive(p.core.id, msg)
        }
      }
    }
  }
  /** Advances the clock by `ms` in 10 ms steps, ticking both cores and delivering after each. */
  const run = (ms: number, opts: { deliverEach?: boolean } = {}) => {
    const until = clock.t + ms
    while (clock.t < until) {
      clock.t += 10
      for (const p of peers) if (p.online) p.core.tick()
      if (opts.deliverEach !== false) deliver()
    }
  }
  return { peers, clock, deliver, run }
}

describe('claims won and lost, lease lapses: real peer cores', async () => {
  const [one, two, op] = await makeSigners(3)

  it('counts the winner and the loser of a concurrent claim, then the winner lapsing', async () => {
    const { peers, deliver, run } = twoCores([one, two], op)
    const [a, b] = peers
    const specs = manifestRecords(op, manifestWithJobs(1, [op.id]), [], 1_700_000_000_000).records
    assert.equal(a.core.submit(specs).accepted, 1)
    deliver()
    run(400) // both merge the spec
    // Both decide before hearing of the other's claim: a concurrent claim of one round.
    run(50, { deliverEach: false })
    const claimed = (p: (typeof peers)[number]) => p.core.jobs()[0].claimants.includes(p.core.id)
    assert.ok(claimed(a) && claimed(b), 'both claimed the round')
    deliver()
    run(3000)
    const job: DerivedJob = a.core.jobs()[0]
    assert.equal(job.status, 'running')
    const winner = peers.find((p) => p.core.id === job.owner)!
    const loser = peers.find((p) => p !== winner)!
    assert.deepEqual(winner.metrics.claimCounts, { won: 1, lost: 0, lapses: 0 })
    assert.deepEqual(loser.metrics.claimCounts, { won: 0, lost: 1, lapses: 0 })
    let text = parsePrometheus(await loser.metrics.text())
    assert.equal(sample(text, 'cis490_claims_total', { outcome: 'lost' }), 1)
    assert.equal(sample(text, 'cis490_claims_total', { outcome: 'won' }), 0)
    assert.equal(sample(text, 'cis490_jobs', { status: 'running' }), 1)

    // The winner goes silent: its lease lapses on the loser, which takes the next round.
    winner.online = false
    run(LEASE_MS + 3000)
    assert.equal(loser.metrics.claimCounts.lapses, 1, 'the lapse is counted once')
    text = parsePrometheus(await loser.metrics.text())
    assert.equal(sample(text, 'cis490_lease_lapses_total'), 1)
    assert.equal(loser.core.jobs()[0].owner, loser.core.id, 'the loser claimed the next round')
    assert.equal(loser.metrics.claimCounts.won, 1, 'and won it')
    assert.equal(sample(text, 'cis490_sync_messages_refused_total'), 0)
  })
})

describe('blocks fetched and served: two block services in one private network', () => {
  const peers = new BlockPeers()
  after(() => peers.close())

  it('counts on the provider the blocks a fetch takes from it, and none of its own reads', async () => {
    const key = swarmKey()
    const a = await peers.start(key)
    const b = await peers.start(key, { bootstrap: a.net.addresses() })
    await waitFor('a connection', () => b.net.connectedPeers().includes(a.net.peerId))
    const src = await peers.tempDir()
    await writeTree(src, { 'bundle.json': new TextEncoder().encode('{}'), 'model.bin': 700_000 })
    const imported = await a.blocks.importDirectory(src)
    await a.blocks.exportDirectory(imported.cid, `${await peers.tempDir()}/own-read`)
    assert.equal(a.blocks.stats().servedBlocks, 0, 'an export reads the store without serving anyone')
    await b.blocks.fetch(imported.cid, { timeoutMs: 30_000 })
    const metricsOf = (p: typeof a) =>
      new NodeMetrics(
        {
          selfId: p.net.peerId,
          sources: {
            jobs: () => [],
            core: () => null,
            net: () => p.net.stats(),
            blocks: () => p.blocks.stats(),
            lapsed: () => [],
          },
        },
        { processMetrics: false },
      )
    const fa = parsePrometheus(await metricsOf(a).text())
    const fb = parsePrometheus(await metricsOf(b).text())
    assert.equal(sample(fa, 'cis490_blocks_served_total'), imported.blocks)
    assert.equal(sample(fa, 'cis490_blocks_served_bytes_total'), imported.bytes)
    assert.equal(sample(fb, 'cis490_blocks_fetched_total'), imported.blocks)
    assert.equal(sample(fb, 'cis490_blocks_fetched_bytes_total'), imported.bytes)
    assert.equal(sample(fb, 'cis490_blocks_served_total'), 0)
    assert.equal(sample(fa, 'cis490_blocks_fetched_total'), 0)
    assert.equal(sample(fa, 'cis490_peers_connected'), 1)
    assert.equal(sample(fb, 'cis490_blocks_stored'), imported.blocks)
  })
})

// Two real `cis490-node start` children on loopback (mDNS off); no dataset, so nobody trains.
describe('/metrics of real nodes', { timeout: 300_000 }, () => {
  let fleet: NodeFleet
  let a: TestNode
  let b: TestNode
  const scrape = async (n: TestNode) => {
    const res = await fetch(`http://${n.api}/metrics`, { signal: AbortSignal.timeout(10_000) })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4; charset=utf-8$/)
    return parsePrometheus(await res.text())
  }
  const byStatus = async (n: TestNode) => {
    const counts: Record<string, number> = {}
    for (const j of (await fleet.get(n, '/v1/jobs')) as { status: string }[])
      counts[j.status] = (counts[j.status] ?? 0) + 1
    return counts
  }

  before(async () => {
    fleet = await NodeFleet.create({ jobs: 4 })
    a = await fleet.start('a', {
      args: ['--manifest', fleet.files.manifest, '--operator-key', fleet.files.operatorKey],
    })
    b = await fleet.start('b', { args: ['--manifest', fleet.files.fleetOnly] })
  })
  after(() => fleet?.close())

  it('parses as Prometheus text; jobs by status match /v1/jobs, sync counts move, the process is described', async () => {
    await fleet.until('b derives the 4 jobs', async () => (await byStatus(b)).pending === 4)
    await fleet.until('b reports its peer', async () => sample(await scrape(b), 'cis490_peers_connected') === 1)
    const fb = await scrape(b)
    assert.equal(sample(fb, 'cis490_jobs', { status: 'pending' }), 4)
    assert.equal(sample(fb, 'cis490_jobs', { status: 'cancelled' }), 0)
    const inB = (f: typeof fb) =>
      (sample(f, 'cis490_sync_messages_total', { direction: 'in', channel: 'gossip' }) ?? 0) +
      (sample(f, 'cis490_sync_messages_total', { direction: 'in', channel: 'direct' }) ?? 0)
    assert.ok(inB(fb) > 0, 'b received sync messages')
    assert.ok((sample(fb, 'cis490_sync_bytes_total', { direction: 'in' }) ?? 0) > 0, 'and their bytes')
    const fa = await scrape(a)
    const outA =
      (sample(fa, 'cis490_sync_messages_total', { direction: 'out', channel: 'gossip' }) ?? 0) +
      (sample(fa, 'cis490_sync_messages_total', { direction: 'out', channel: 'direct' }) ?? 0)
    assert.ok(outA > 0, 'a sent sync messages')
    assert.ok((sample(fa, 'cis490_sync_bytes_total', { direction: 'out' }) ?? 0) > 0)
    assert.equal(sample(fa, 'cis490_peers_connected'), 1)
    assert.equal(fa.get('process_cpu_seconds_total')?.type, 'counter')
    assert.ok((sample(fa, 'process_resident_memory_bytes') ?? 0) > 0)
    assert.equal(fa.get('cis490_trainer_runs_total')?.type, 'counter')
    assert.equal(sample(fa, 'cis490_claims_total', { outcome: 'won' }), 0, 'no dataset here: no claims')

    // A cancel through a moves b's gauge with its table; b's counters only grow.
    const job = ((await fleet.get(a, '/v1/jobs')) as { id: string }[])[0]
    const r = runCliProcess(['cancel', job.id.slice(0, 12), '--key', fleet.files.operatorKey, '--api', a.api])
    assert.equal(r.code, 0, r.stderr)
    await fleet.until('b sees the cancel', async () => (await byStatus(b)).cancelled === 1)
    const later = await scrape(b)
    const table = await byStatus(b)
    for (const status of ['pending', 'claimed', 'running', 'completed', 'failed', 'cancelled'])
      assert.equal(sample(later, 'cis490_jobs', { status }), table[status] ?? 0, status)
    assert.ok(inB(later) > inB(fb), 'the cancel arrived as more sync messages')
  })
})

describe('trainer runs: ProcessTrainer children feed the metrics', () => {
  it('counts each exit by model and outcome (completed, failed, stopped) with its wall time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cis490-metrics-runs-'))
    const { metrics } = fakeParts()
    const exits: string[] = []
    // A stand-in for `cis490-node`: sh runs the script given per model, the train arguments go to $@.
    const trainerFor = (script: string) =>
      new ProcessTrainer(
        {
          logger: pino({ level: 'silent' }),
          onExit: (ref, outcome) => exits.push(`${ref.job}:${outcome.ok}`),
          onRunEnded: (run) => metrics.runEnded(run),
        },
        { runsDir: dir, datasetDir: dir, command: ['/bin/sh', '-c', script, 'sh'], graceMs: 2000 },
      )
    const run = (job: string, model: string) => ({
      job: job as JobId,
      generation: 0,
      round: 1,
      attempt: 1,
      spec: { id: job, model, mode: 'realistic' } as unknown as DerivedJob['spec'],
    })
    try {
      const ok = trainerFor(`sleep 0.2; echo '{"bundle":"bafyfake","fit_seconds":0.1}'`)
      ok.start(run('j1', 'knn'))
      ok.start(run('j2', 'gbt'))
      trainerFor('exit 3').start(run('j3', 'knn'))
      const slow = trainerFor('exec sleep 30')
      slow.start(run('j4', 'mlp'))
      await waitFor('three runs ended', () => exits.length === 3, 20_000)
      slow.stop({ job: 'j4' as JobId, generation: 0, round: 1 })
      await waitFor('the stopped run ended', () => exits.length === 4, 20_000)
      const f = parsePrometheus(await metrics.text())
      assert.equal(sample(f, 'cis490_trainer_runs_total', { model: 'knn', outcome: 'completed' }), 1)
      assert.equal(sample(f, 'cis490_trainer_runs_total', { model: 'gbt', outcome: 'completed' }), 1)
      assert.equal(sample(f, 'cis490_trainer_runs_total', { model: 'knn', outcome: 'failed' }), 1)
      assert.equal(sample(f, 'cis490_trainer_runs_total', { model: 'mlp', outcome: 'stopped' }), 1)
      const knnSeconds = sample(f, 'cis490_trainer_run_duration_seconds_sum', { model: 'knn', outcome: 'completed' })
      assert.ok(knnSeconds !== undefined && knnSeconds >= 0.15 && knnSeconds < 15, `wall time ${knnSeconds}`)
      assert.equal(sample(f, 'cis490_trainer_run_duration_seconds_count', { model: 'mlp', outcome: 'stopped' }), 1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
