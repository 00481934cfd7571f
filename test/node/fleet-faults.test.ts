import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import type { JobDetailJson, JobJson } from '../../node/api/index.ts'
import { BlockFetchError } from '../../node/blocks/index.ts'
import type { RunRequest } from '../../node/peer/index.ts'
import type { RunOutcome } from '../../node/scheduler/index.ts'
import { ProcessTrainer } from '../../node/worker/process-trainer.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'
import { serveForgedBlocks } from '../helpers/hostile-bitswap.ts'
import { NodeFleet, runCli, type TestNode, tableKey } from '../helpers/node-fleet.ts'
import {
  closeTrainingFleet,
  isAlive,
  logEntries,
  nodeLogEntries,
  trainerPid,
  waitGone,
} from '../helpers/trainer-processes.ts'
import { BlockPeers, readTree, swarmKey, waitFor, writeTree } from './blocks-fixture.ts'

const ORPHAN_CHILD = fileURLToPath(new URL('../helpers/orphan-trainer-child.ts', import.meta.url))
const PROVIDER_CHILD = fileURLToPath(new URL('../helpers/block-provider-child.ts', import.meta.url))

/**
 * The fleet's lease: NodeFleet writes `lease_s = 6`, raised here so that a node starved by a
 * loaded 2-core box (renewals every lease/3) does not lose a live lease.
 */
const LEASE_S = 12
const LEASE_MS = LEASE_S * 1000
const RENEW_MS = LEASE_MS / 3
/** How long a node may take to start on a box other agents load to 20 (seen: over 60 s). */
const START_MS = 180_000
/** ProcessTrainer's grace between SIGTERM and SIGKILL (the node keeps the default). */
const GRACE_MS = 10_000

const SPLIT = 'split = { test_hosts = ["k-gamingcom"] }'
/** An mlp that trains for `epochs` epochs (no early stop): a few seconds per 100 on the test dataset. */
const slowMlp = (epochs: number, seed: number, hosts: string[], priority: number) =>
  `[[jobs]]\nmodel = "mlp"\nmode = "realistic"\nhyper = { epochs = ${epochs}, patience = ${epochs}, batch_size = 16, hidden = 64 }\n` +
  `${SPLIT}\nseed = ${seed}\nallowed_hosts = ${JSON.stringify(hosts)}\npriority = ${priority}\n`

// Jobs are told apart by priority. F fails on every attempt for real: its test host has no
// rows in the dataset, so `train` exits 2 naming it. C and T never finish by themselves; K
// trains for tens of seconds, long enough to be killed mid-run, short enough to complete.
const P = { fail: 300, cancel: 200, kill: 100, term: 50 } as const
const JOBS = [
  `[[jobs]]\nmodel = "knn"\nmode = "realistic"\nsplit = { test_hosts = ["nowhere"] }\nmax_attempts = 2\nallowed_hosts = ["a"]\npriority = ${P.fail}\n`,
  slowMlp(100_000, 1, ['a'], P.cancel),
  slowMlp(1000, 2, ['b', 'c'], P.kill),
].join('\n')
/** Added by a reload once K is done, so that b and c are both free when it arrives. */
const TERM_JOB = slowMlp(100_000, 3, ['b', 'c'], P.term)

// The seams the real-node tests below cannot reach on purpose: an orphan that stays silent
// (a real one dies of EPIPE at its next progress line once its node is gone, so the fleet
// test rarely leaves one for the restart to find) and a trainer that ignores SIGTERM.
describe('ProcessTrainer: orphans of a crashed node and trainers that ignore SIGTERM', { timeout: 60_000 }, () => {
  const job = 'f'.repeat(64)
  const strays = new Set<number>()
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cis490-trainer-'))
  })
  after(() => {
    for (const pid of strays) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true })
  })
  const silentLogger = pino({ level: 'silent' })

  it('a restarted node kills the orphan trainer its crashed incarnation left, and nothing else', async () => {
    const runsDir = join(dir, 'runs')
    const crashed = spawn(process.execPath, [ORPHAN_CHILD, runsDir, job], { stdio: ['ignore', 'pipe', 'pipe'] })
    const pid = await new Promise<number>((done, fail) => {
      let out = ''
      let err = ''
      crashed.stderr.setEncoding('utf8').on('data', (c: string) => (err += c))
      crashed.stdout.setEncoding('utf8').on('data', (c: string) => {
        out += c
        if (out.includes('\n')) done(Number(out.trim()))
      })
      crashed.once('exit', (code) => fail(new Error(`the stand-in node exited with ${code}: ${err}`)))
    })
    strays.add(pid)
    crashed.kill('SIGKILL')
    await new Promise((r) => crashed.once('close', r))
    await new Promise((r) => setTimeout(r, 300))
    assert.ok(isAlive(pid), 'the silent trainer outlived its node')
    // Beside it: a pid file naming a live process that is not this run's trainer (a reused
    // pid), and one naming a pid that no longer exists.
    const bystander = spawn(
      process.execPath,
      ['-e', 'setInterval(() => {}, 1000)', 'train', '--job-file', '/elsewhere/job.json'],
      {
        stdio: 'ignore',
      },
    )
    strays.add(bystander.pid as number)
    const other = join(runsDir, `${'e'.repeat(64)}-g0-r0`)
    mkdirSync(other)
    writeFileSync(join(other, 'pid'), String(bystander.pid))
    const stale = join(runsDir, `${'d'.repeat(64)}-g0-r0`)
    mkdirSync(stale)
    writeFileSync(join(stale, 'pid'), '999999999')
    const restarted = new ProcessTrainer(
      { logger: silentLogger, onExit: () => {} },
      { runsDir, datasetDir: dir, command: [process.execPath] },
    )
    assert.equal(await restarted.reapOrphans(), 1)
    assert.equal(isAlive(pid), false, 'the orphan is gone when reapOrphans returns')
    assert.ok(isAlive(bystander.pid as number), "a process that is not the run's trainer lives on")
    assert.deepEqual(readdirSync(runsDir).sort(), [], "the dead runs' directories are removed")
    bystander.kill('SIGKILL')
  })

  it('a trainer that ignores SIGTERM is SIGKILLed after the grace period; stop reports it stopped', async () => {
    const runsDir = join(dir, 'stubborn', 'runs')
    const exits: RunOutcome[] = []
    const trainer = new ProcessTrainer(
      { logger: silentLogger, onExit: (_ref, outcome) => exits.push(outcome) },
      {
        runsDir,
        datasetDir: dir,
        graceMs: 1000,
        command: [process.execPath, '-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"],
      },
    )
    const spec = { id: job, model: 'knn', mode: 'realistic' } as unknown as RunRequest['spec']
    const ref = { job: job as RunRequest['job'], generation: 0, round: 0 }
    trainer.start({ ...ref, attempt: 1, spec })
    await waitFor('the pid file', () => trainerPid(join(dir, 'stubborn'), job) !== null)
    const pid = trainerPid(join(dir, 'stubborn'), job) as number
    strays.add(pid)
    await new Promise((r) => setTimeout(r, 300)) // let it install its SIGTERM handler
    const started = Date.now()
    trainer.stop(ref)
    await waitFor('the exit', () => exits.length === 1, 10_000)
    const took = Date.now() - started
    assert.ok(took >= 900 && took < 1000 + 3000, `stopped after ${took} ms (grace 1000 ms)`)
    assert.deepEqual(exits, [{ ok: false, error: 'stopped' }])
    assert.equal(isAlive(pid), false)
    assert.equal(trainer.active, 0)
  })
})

// What test/node/blocks.test.ts leaves out: forged blocks arriving before honest ones from a
// peer that answers every want, and a provider that vanishes without a goodbye (SIGKILLed
// in its own process), each with real libp2p hosts in one private network.
describe('BlockService: forged blocks and a provider killed mid-fetch', { timeout: 120_000 }, () => {
  const peers = new BlockPeers()
  const key = swarmKey()
  const children: ChildProcess[] = []
  after(async () => {
    for (const c of children) c.kill('SIGKILL')
    await peers.close()
  })

  it('forged blocks from a peer (wrong bytes, an identity-hash digest) are refused; the DAG comes from the honest peer', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (err: unknown) => unhandled.push(err)
    process.on('unhandledRejection', onUnhandled)
    try {
      const honest = await peers.start(key)
      const hostile = await peers.start(key)
      await hostile.blocks.stop() // its host speaks bitswap through the forger only
      const forger = await serveForgedBlocks(hostile.net.libp2p)
      const src = await peers.tempDir()
      await writeTree(src, { 'model.bin': 3 * 1024 * 1024, 'bundle.json': new TextEncoder().encode('{"forged":0}') })
      const { cid, blocks } = await honest.blocks.importDirectory(src)
      const fetcher = await peers.start(key, { bootstrap: hostile.net.addresses(), init: { wantRetryMs: 1000 } })
      await waitFor('the fetcher and the forger connected', () =>
        fetcher.net.connectedPeers().includes(hostile.net.peerId),
      )
      let done = 0
      const fetching = fetcher.blocks.fetch(cid, { timeoutMs: 30_000, onProgress: (n) => (done = n) })
      // The forger answers the root's want first, and nothing else is connected yet.
      await waitFor('forged answers to the first want', () => forger.forged() >= 2, 10_000)
      await new Promise((r) => setTimeout(r, 500))
      assert.equal(done, 0, 'no forged block counted as the root')
      await fetcher.net.libp2p.dial(honest.net.libp2p.getMultiaddrs()[0])
      await fetching
      assert.ok(forger.forged() >= 2)
      assert.equal(fetcher.blocks.stats().fetchedBlocks, blocks)
      const out = join(await peers.tempDir(), 'out')
      await fetcher.blocks.exportDirectory(cid, out)
      assert.deepEqual(await readTree(out), await readTree(src), 'the fetched files are the honest bytes')
      await new Promise((r) => setTimeout(r, 200))
      assert.deepEqual(unhandled, [], 'garbage from a peer raised nothing unhandled')
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('a fetch whose only provider is SIGKILLed mid-fetch fails within its timeout, naming the CID, what is missing and that no peer is left', async () => {
    const dir = await peers.tempDir()
    const child = spawn(
      process.execPath,
      [PROVIDER_CHILD, dir, Buffer.from(key).toString('hex'), String(32 * 1024 * 1024)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    children.push(child)
    const provider = await new Promise<{ address: string; cid: string; blocks: number }>((done, fail) => {
      let out = ''
      let err = ''
      child.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c))
      child.stdout?.setEncoding('utf8').on('data', (c: string) => {
        out += c
        if (out.includes('\n')) done(JSON.parse(out))
      })
      child.once('exit', (code) => fail(new Error(`the provider exited with ${code}: ${err}`)))
    })
    const exited = new Promise((r) => child.once('exit', r))
    const fetcher = await peers.start(key, { bootstrap: [provider.address], init: { wantWindow: 1 } })
    const providerId = provider.address.split('/p2p/')[1]
    await waitFor('connected to the provider', () => fetcher.net.connectedPeers().includes(providerId))
    const timeoutMs = 6000
    let killedAt = 0
    const started = Date.now()
    await assert.rejects(
      fetcher.blocks.fetch(provider.cid, {
        timeoutMs,
        onProgress: (n) => {
          if (n >= 4 && killedAt === 0) {
            killedAt = Date.now()
            child.kill('SIGKILL')
          }
        },
      }),
      (err: Error) => {
        assert.ok(err instanceof BlockFetchError, String(err))
        assert.equal(err.cid, provider.cid)
        assert.ok(err.missing.length > 0)
        assert.match(
          err.message,
          new RegExp(`^fetch ${provider.cid}: timed out after ${timeoutMs} ms with \\d+ blocks`),
        )
        assert.match(err.message, /never arrived/)
        assert.match(err.message, /connected peers: 0$/)
        return true
      },
    )
    const elapsed = Date.now() - started
    assert.ok(killedAt > 0, 'the provider was killed mid-fetch')
    await exited
    assert.ok(elapsed >= timeoutMs - 50 && elapsed < timeoutMs + 3000, `failed after ${elapsed} ms`)
    assert.ok(fetcher.blocks.stats().fetchedBlocks < provider.blocks)
    assert.deepEqual(fetcher.net.connectedPeers(), [])
  })
})

// Three real nodes (child processes on loopback, mDNS off) that all hold the dataset and
// train in child processes of their own. Independent scenarios run at once: F and C on a,
// K then T on b and c.
describe('real nodes when trainers fail, are cancelled or lose their node', {
  concurrency: true,
  timeout: 480_000,
}, () => {
  let fleet: NodeFleet
  let a: TestNode
  /** Holds the table, trains nothing (no dataset here). */
  let o: TestNode
  const trainers = new Set<number>()
  let kDone: () => void = () => {}
  const kFinished = new Promise<void>((done) => (kDone = done))

  const jobs = async (n: TestNode) => (await fleet.get(n, '/v1/jobs')) as JobJson[]
  const byPriority = async (n: TestNode, priority: number) => {
    const job = (await jobs(n)).find((j) => j.priority === priority)
    assert.ok(job, `${n.name} holds the job of priority ${priority}`)
    return job
  }
  const detail = async (n: TestNode, id: string) => (await fleet.get(n, `/v1/jobs/${id}`)) as JobDetailJson
  const running = () => fleet.nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null)
  const node = (name: string | null) => fleet.nodes.find((n) => n.name === name) as TestNode
  /** Waits until `job` runs on one of `hosts` with a live trainer that has trained an epoch; returns both. */
  const trainingOn = async (id: string, hosts: string[]) => {
    let owner: TestNode | undefined
    let pid: number | null = null
    await fleet.until(
      `${id.slice(0, 12)} training on one of ${hosts}`,
      async () => {
        const j = (await jobs(o)).find((r) => r.id === id)
        if (j?.status !== 'running' || !hosts.includes(j.host ?? '')) return false
        owner = node(j.host)
        pid = trainerPid(owner.dataDir, id)
        if (pid === null || !isAlive(pid)) return false
        trainers.add(pid)
        return logEntries(owner, 'trainer', id).some((e) => String(e.progress).startsWith('epoch'))
      },
      180_000,
    )
    return { owner: owner as TestNode, pid: pid as unknown as number }
  }

  before(async () => {
    // a may run two jobs at once, so that F's retries do not wait for C.
    fleet = await NodeFleet.create({
      jobs: 0,
      dataset: 'data',
      jobsToml: JOBS,
      extraManifest: '[hosts.a]\nmax_concurrent = 2\n',
    })
    for (const file of [fleet.files.manifest, fleet.files.fleetOnly]) {
      const text = readFileSync(file, 'utf8')
      assert.match(text, /^lease_s = 6$/m)
      writeFileSync(file, text.replace(/^lease_s = 6$/m, `lease_s = ${LEASE_S}`))
    }
    await makeSyntheticDataset(join(fleet.files.dir, 'data'), { episodes: 60, windows: 20 })
    a = await fleet.start('a', {
      args: ['--manifest', fleet.files.manifest, '--operator-key', fleet.files.operatorKey],
      timeoutMs: START_MS,
    })
    // o's fleet config names the dataset relative to a directory without it: o trains
    // nothing, is never killed, and is the "other peer" operator commands go through.
    const elsewhere = join(fleet.files.dir, 'elsewhere')
    mkdirSync(elsewhere)
    writeFileSync(join(elsewhere, 'fleet.toml'), readFileSync(fleet.files.fleetOnly))
    // All three bootstrap to a; starting them at once saves a loaded box a good 15 s.
    const [b, c, started] = await Promise.all([
      fleet.start('b', { timeoutMs: START_MS }),
      fleet.start('c', { timeoutMs: START_MS }),
      fleet.start('o', { args: ['--manifest', join(elsewhere, 'fleet.toml')], timeoutMs: START_MS }),
    ])
    o = started
    await fleet.until('b, c and o hold the three jobs', async () => {
      const rows = await Promise.all([b, c, o].map(jobs))
      return rows.every((r) => r.length === 3)
    })
  })
  after(() => closeTrainingFleet(fleet, trainers))

  it('a job whose trainer always fails ends failed after max_attempts, with the error in show on every peer', async () => {
    const f = await byPriority(a, P.fail)
    await fleet.until('F failed', async () => (await jobs(a)).find((j) => j.id === f.id)?.status === 'failed', 180_000)
    // (a and o: b and c may be down for the other scenarios). a shows it first (it wrote the
    // result); o shows it once the result's gossip has reached it.
    for (const n of [a, o]) {
      await fleet.until(`${n.name} shows F failed`, async () => (await detail(n, f.id)).status === 'failed', 30_000)
      const d = await detail(n, f.id)
      assert.equal(d.status, 'failed', n.name)
      assert.equal(d.attempt, 2, `${n.name}: the last attempt is max_attempts`)
      assert.equal(d.max_attempts, 2)
      assert.match(d.error ?? '', /exited with code 2/, n.name)
      assert.match(d.error ?? '', /host "nowhere" has no rows/, `${n.name}: the trainer's stderr`)
      assert.deepEqual(
        d.attempts.map((x) => [x.attempt, x.host, x.outcome]),
        [
          [1, 'a', 'failed'],
          [2, 'a', 'failed'],
        ],
      )
      for (const x of d.attempts) assert.match(x.error ?? '', /"nowhere"/)
    }
    const text = await runCli(['show', f.id.slice(0, 12), '--api', o.api])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /failed/)
    assert.match(text.stdout, /host "nowhere" has no rows/)
  })

  it('a signed cancel through another peer stops the running trainer on its owner within the grace period', async (t) => {
    const cj = await byPriority(a, P.cancel)
    const { owner, pid } = await trainingOn(cj.id, ['a'])
    const r = await runCli(['cancel', cj.id.slice(0, 12), '--key', fleet.files.operatorKey, '--api', o.api])
    assert.equal(r.code, 0, r.stderr)
    const accepted = Date.now() // o holds the cancel from here on
    await waitGone(pid, GRACE_MS + 10_000)
    const stoppedIn = Date.now() - accepted
    let exit: Record<string, unknown> | undefined
    await fleet.until('the owner logs the exit', async () => {
      exit = logEntries(owner, 'trainer exited', cj.id).at(-1)
      return exit !== undefined
    })
    assert.ok(exit)
    const stop = logEntries(owner, 'stop', cj.id).at(-1)
    t.diagnostic(
      `trainer gone ${stoppedIn} ms after o accepted the cancel; the owner stopped the run ` +
        `${Number(stop?.time) - accepted} ms after it, the child exited ${Number(exit.time) - Number(stop?.time)} ms after that`,
    )
    assert.ok(stoppedIn < GRACE_MS + 5000, `the trainer stopped ${stoppedIn} ms after the cancel`)
    assert.equal(exit.ok, false)
    assert.notEqual(exit.signal, 'SIGKILL', 'the trainer obeyed SIGTERM before the grace ran out')
    await fleet.until('every peer sees C cancelled', async () => {
      const rows = await Promise.all(running().map(jobs))
      return rows.every((js) => js.find((j) => j.id === cj.id)?.status === 'cancelled')
    })
    const d = await detail(a, cj.id)
    assert.deepEqual(
      d.attempts.map((x) => [x.attempt, x.host, x.outcome]),
      [[1, 'a', 'cancelled']],
    )
    assert.equal(trainerPid(owner.dataDir, cj.id), null, 'no pid file is left')
  })

  it('a node SIGKILLed while training: its lease lapses, another peer completes the job as attempt 2, the restarted node reaps its orphan and converges', async (t) => {
    try {
      const k = await byPriority(a, P.kill)
      const { owner: victim, pid } = await trainingOn(k.id, ['b', 'c'])
      const other = node(victim.name === 'b' ? 'c' : 'b')
      const killedAt = Date.now()
      await fleet.kill(victim)
      await fleet.until(
        `K taken over by ${other.name} as attempt 2`,
        async () => {
          const j = (await jobs(o)).find((r) => r.id === k.id)
          return j?.owner === other.peerId && j.attempt === 2 && (j.status === 'claimed' || j.status === 'running')
        },
        120_000,
      )
      const takeover = Date.now() - killedAt
      assert.ok(
        takeover >= LEASE_MS - RENEW_MS - 500,
        `taken over ${takeover} ms after the kill: only a lapse frees a live claim`,
      )
      const orphanLived = isAlive(pid)
      t.diagnostic(
        `taken over after ${takeover} ms; the orphan trainer was ${orphanLived ? 'still' : 'no longer'} running before the restart`,
      )
      const restarted = await fleet.start(victim.name, { timeoutMs: START_MS })
      assert.equal(isAlive(pid), false, `no orphan trainer (pid ${pid}) runs after the restart`)
      assert.equal(trainerPid(restarted.dataDir, k.id), null, 'the dead run left no pid file behind')
      await fleet.until(
        'K completed',
        async () => (await jobs(o)).find((j) => j.id === k.id)?.status === 'completed',
        200_000,
      )
      const d = await detail(restarted, k.id)
      assert.equal(d.status, 'completed')
      assert.equal(d.attempt, 2)
      assert.equal(d.owner, other.peerId)
      assert.equal(d.host, other.name)
      assert.match(d.bundle ?? '', /^bafy/)
      assert.deepEqual(
        d.attempts.map((x) => [x.attempt, x.owner]),
        [
          [1, restarted.peerId],
          [2, other.peerId],
        ],
      )
      assert.equal(d.attempts[1].outcome, 'completed')
      // Attempt 1 lapsed; the restarted node may also have recorded why, if it wrote that
      // before it learned of attempt 2 (the history then shows the failure it recorded).
      const first = d.attempts[0]
      if (first.outcome !== 'lapsed') {
        assert.equal(first.outcome, 'failed')
        assert.match(first.error ?? '', /interrupted: the host restarted/)
      }
      assert.equal(logEntries(restarted, 'trainer started', k.id).length, 0, 'the restarted node did not run K again')
      // The restarted node converges with the fleet on K and on the whole table.
      await fleet.until(
        'every peer agrees on the table',
        async () => {
          const rows = await Promise.all(running().map(jobs))
          const keys = rows.map(tableKey)
          const ks = rows.map((js) => JSON.stringify(js.find((j) => j.id === k.id)))
          return keys.every((x) => x === keys[0]) && ks.every((x) => x === ks[0])
        },
        120_000,
      )
    } finally {
      kDone()
    }
  })

  it('SIGTERM to a node stops its trainer and releases the lease: another peer takes the job at once, as the same attempt', async (t) => {
    await kFinished
    // b and c must both be free (K done), or T would wait for a trainer slot, not for a lease.
    const k = await byPriority(o, P.kill)
    assert.equal(k.status, 'completed', 'K is completed (see the SIGKILL test)')
    const manifest2 = join(fleet.files.dir, 'manifest2.toml')
    writeFileSync(manifest2, `${readFileSync(fleet.files.manifest, 'utf8')}\n${TERM_JOB}`)
    const reload = await runCli(['reload', manifest2, '--key', fleet.files.operatorKey, '--api', a.api, '--json'])
    assert.equal(reload.code, 0, reload.stderr)
    assert.equal(JSON.parse(reload.stdout).accepted, 1)
    const tj = await byPriority(a, P.term)
    const { owner, pid } = await trainingOn(tj.id, ['b', 'c'])
    const other = node(owner.name === 'b' ? 'c' : 'b')
    const started = Date.now()
    const exited = fleet.kill(owner, 'SIGTERM')
    await fleet.until(
      `T taken over by ${other.name}`,
      async () => {
        const j = (await jobs(o)).find((r) => r.id === tj.id)
        return j?.owner === other.peerId && (j.status === 'claimed' || j.status === 'running')
      },
      60_000,
    )
    const takeover = Date.now() - started
    t.diagnostic(`taken over ${takeover} ms after SIGTERM`)
    // A lapse could not free it before LEASE_MS - RENEW_MS after SIGTERM (the last renewal
    // was at most RENEW_MS before it).
    assert.ok(takeover < LEASE_MS - RENEW_MS, `taken over ${takeover} ms after SIGTERM (lease ${LEASE_MS} ms)`)
    assert.equal(await exited, 0, 'the node exits 0')
    assert.equal(isAlive(pid), false, 'the node stopped its trainer before it exited')
    const d = await detail(a, tj.id)
    assert.equal(d.attempt, 1, 'a release uses no attempt')
    assert.deepEqual(
      d.attempts.map((x) => [x.attempt, x.host, x.outcome]),
      [
        [1, owner.name, 'released'],
        [1, other.name, d.status],
      ],
    )
    // Cancel it to end the run, and let the stopped node come back: the whole fleet agrees.
    const { pid: second } = await trainingOn(tj.id, [other.name])
    const r = await runCli(['cancel', tj.id.slice(0, 12), '--key', fleet.files.operatorKey, '--api', a.api])
    assert.equal(r.code, 0, r.stderr)
    await waitGone(second, GRACE_MS + 3000)
    await fleet.start(owner.name, { timeoutMs: START_MS })
    await fleet.until(
      'every peer agrees: F failed, C cancelled, K completed, T cancelled',
      async () => {
        const rows = await Promise.all(fleet.nodes.map(jobs))
        const statuses = rows.map((js) =>
          [P.fail, P.cancel, P.kill, P.term].map((p) => js.find((j) => j.priority === p)?.status).join(','),
        )
        return (
          statuses.every((s) => s === 'failed,cancelled,completed,cancelled') &&
          rows.map(tableKey).every((k) => k === tableKey(rows[0]))
        )
      },
      120_000,
    )
    // No attempt ran twice, over every incarnation of every node (node.log). Two free peers
    // may both start a job they claimed at the same moment before either saw the other's
    // claim; the loser of the tie stops at once. So: F ran twice on a, C once; K's attempt 2
    // ran once, on the peer that completed it (not again on a restarted node); T ran as
    // attempt 1 only, once on the node that got SIGTERM.
    const rows = await jobs(o)
    const runs = (priority: number) => {
      const id = rows.find((j) => j.priority === priority)?.id.slice(0, 12)
      const out: string[] = []
      for (const n of fleet.nodes)
        for (const e of nodeLogEntries(n.dataDir, 'trainer started'))
          if (e.job === id) out.push(`${n.name}#${e.attempt}`)
      return out.sort()
    }
    assert.deepEqual(runs(P.fail), ['a#1', 'a#2'])
    assert.deepEqual(runs(P.cancel), ['a#1'])
    const kRuns = runs(P.kill)
    const kHost = rows.find((j) => j.priority === P.kill)?.host
    assert.deepEqual(
      kRuns.filter((r) => !r.endsWith('#1')),
      [`${kHost}#2`],
      `K ran as ${kRuns.join(', ')}`,
    )
    assert.ok(new Set(kRuns).size === kRuns.length, `K ran as ${kRuns.join(', ')}`)
    const tRuns = runs(P.term)
    assert.ok(
      tRuns.every((r) => r.endsWith('#1')),
      `T ran as ${tRuns.join(', ')}`,
    )
    assert.equal(tRuns.filter((r) => r === `${owner.name}#1`).length, 1, `T ran as ${tRuns.join(', ')}`)
    assert.ok(tRuns.includes(`${other.name}#1`), `T ran as ${tRuns.join(', ')}`)
  })
})
