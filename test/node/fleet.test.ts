import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import * as Automerge from '@automerge/automerge'
import pino from 'pino'
import { appendRecords, createJobTable, encodeRecord, keySigner } from '../../crdt/index.ts'
import { encodeMessage, generateKey, generateSwarmKey, savePrivateKey } from '../../node/index.ts'
import { FleetNet } from '../../node/net/index.ts'
import { runCliProcess } from '../helpers/cli.ts'
import { busyShard } from '../helpers/job-table.ts'
import { NodeFleet, type TestNode, tableKey } from '../helpers/node-fleet.ts'

type JobRow = { id: string; status: string; generation: number }

// Four real nodes as child processes on loopback (mDNS off, bootstrapped to the first).
// None has the dataset, so nobody trains: this is the table, the API and the operator path.
describe('a fleet of real nodes', { timeout: 300_000 }, () => {
  let fleet: NodeFleet
  let a: TestNode
  let b: TestNode
  let c: TestNode
  let d: TestNode
  const jobsOf = async (n: TestNode) => (await fleet.get(n, '/v1/jobs')) as JobRow[]
  const agree = async (nodes: TestNode[], count: number) => {
    const keys = await Promise.all(nodes.map(async (n) => tableKey(await jobsOf(n))))
    return keys.every((k) => k === keys[0]) && keys[0].split('\n').filter(Boolean).length === count
  }

  before(async () => {
    fleet = await NodeFleet.create({ jobs: 12 })
    a = await fleet.start('a')
    b = await fleet.start('b')
    // c and d never see the manifest's jobs: their fleet config has none.
    c = await fleet.start('c', { args: ['--manifest', fleet.files.fleetOnly] })
    d = await fleet.start('d', { args: ['--manifest', fleet.files.fleetOnly] })
  })
  after(() => fleet?.close())

  it('a signed reload on one peer shows the same jobs on every peer', async () => {
    const r = runCliProcess([
      'reload',
      fleet.files.manifest,
      '--key',
      fleet.files.operatorKey,
      '--api',
      b.api,
      '--json',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).accepted, 12)
    await fleet.until('every peer derives the 12 jobs', () => agree([a, b, c, d], 12))
    const again = runCliProcess([
      'reload',
      fleet.files.manifest,
      '--key',
      fleet.files.operatorKey,
      '--api',
      c.api,
      '--json',
    ])
    assert.equal(JSON.parse(again.stdout).unchanged, 12, 'reloading is idempotent, through any peer')
    // No node has the dataset: `show` says why a pending job waits, from any peer.
    const job = (await jobsOf(d))[0]
    const show = runCliProcess(['show', job.id.slice(0, 8), '--api', d.api])
    assert.equal(show.code, 0, show.stderr)
    assert.match(show.stdout, /lacks the fleet dataset/)
  })

  it('a cancel through another peer converges everywhere', async () => {
    const job = (await jobsOf(a))[0]
    const r = runCliProcess(['cancel', job.id.slice(0, 10), '--key', fleet.files.operatorKey, '--api', c.api])
    assert.equal(r.code, 0, r.stderr)
    await fleet.until('every peer sees the cancel', async () => {
      const rows = await Promise.all([a, b, c, d].map(jobsOf))
      return rows.every((js) => js.find((j) => j.id === job.id)?.status === 'cancelled')
    })
  })

  it('a forged cancel (a key not in operator_keys) changes nothing anywhere', async () => {
    const stranger = join(fleet.files.dir, 'stranger.key')
    savePrivateKey(stranger, await generateKey())
    const job = (await jobsOf(a)).find((j) => j.status === 'pending') as JobRow
    const r = runCliProcess(['cancel', job.id, '--key', stranger, '--api', d.api, '--json'])
    assert.match(r.stdout + r.stderr, /not an operator key/)
    await new Promise((s) => setTimeout(s, 2000))
    for (const n of [a, b, c, d])
      assert.equal((await jobsOf(n)).find((j) => j.id === job.id)?.status, 'pending', n.name)
  })

  it('a node SIGKILLed while writing comes back from its data dir with its table', async () => {
    const job = (await jobsOf(d)).find((j) => j.status === 'pending') as JobRow
    const r = runCliProcess(['cancel', job.id, '--key', fleet.files.operatorKey, '--api', d.api])
    assert.equal(r.code, 0, r.stderr)
    await fleet.kill(d) // right after the write: the cancel was persisted before the API answered
    d = await fleet.start('d', { args: [] }) // no flags: it finds its fleet in DATA_DIR/fleet.toml
    const mine = await jobsOf(d)
    assert.equal(mine.find((j) => j.id === job.id)?.status, 'cancelled', 'the cancel survived the kill')
    await fleet.until('the restarted peer agrees with the fleet', () => agree([a, b, c, d], 12))
  })

  it('a node with another swarm key never connects and never sees a job', async () => {
    const otherKey = join(fleet.files.dir, 'other-swarm.key')
    writeFileSync(otherKey, generateSwarmKey())
    const x = await fleet.start('x', { swarmKey: otherKey, args: ['--manifest', fleet.files.fleetOnly] })
    await new Promise((s) => setTimeout(s, 4000))
    assert.deepEqual(await jobsOf(x), [])
    const workers = (await fleet.get(a, '/v1/workers')) as { hostname: string }[]
    assert.ok(!workers.some((w) => w.hostname === 'x'), 'the fleet never heard of x')
    await fleet.kill(x)
  })

  it('garbage on the stream protocol and the topic crashes nothing and gets its sender banned', async () => {
    const key = await generateKey()
    const swarmKey = new Uint8Array(await import('node:fs').then((fs) => fs.readFileSync(fleet.files.swarmKey)))
    const attacker = new FleetNet(
      { logger: pino({ level: 'silent' }) },
      {
        privateKey: key,
        swarmKey,
        fleet: 'test',
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: [a.address],
        mdns: false,
      },
    )
    await attacker.start()
    try {
      await fleet.until('the attacker is connected', async () => attacker.connectedPeers().includes(a.peerId), 30_000)
      const before = tableKey(await jobsOf(a))
      const signer = keySigner(key)
      // A hostile change: a fork of the table that deletes the whole log.
      const fork = appendRecords(createJobTable('ee'.repeat(16)), [
        encodeRecord({ t: 'cancel', j: 'a'.repeat(64), at: 1, g: 0 }, signer),
      ])
      const wiped = Automerge.change(fork, (doc) => {
        busyShard(doc.log).splice(0, 1)
      })
      const hostile = encodeMessage({
        type: 'changes',
        changes: [Automerge.getLastLocalChange(wiped) as Uint8Array],
        heads: Automerge.getHeads(wiped),
      })
      // Well-formed but badly signed: an operator cancel whose payload was altered after signing,
      // in an honest-looking change (it merges; every peer ignores the record).
      const job = (await jobsOf(a)).find((j) => j.status === 'pending') as JobRow
      const forgedBytes = encodeRecord({ t: 'cancel', j: job.id, at: 1, g: job.generation }, signer)
      forgedBytes[forgedBytes.length - 3] ^= 1
      const withForgery = appendRecords(createJobTable('ef'.repeat(16)), [forgedBytes])
      attacker.publish(
        encodeMessage({
          type: 'changes',
          changes: [Automerge.getLastLocalChange(withForgery) as Uint8Array],
          heads: Automerge.getHeads(withForgery),
          records: [forgedBytes],
        }),
      )
      for (let i = 0; i < 6; i++) {
        attacker.send(a.peerId, new Uint8Array([0xde, 0xad, i])) // framed garbage
        attacker.publish(new Uint8Array([0xba, 0xd0, i])) // garbage on the topic (the validator rejects it)
        attacker.publish(hostile) // well-formed, hostile content
        attacker.send(a.peerId, hostile)
      }
      await fleet.until('a bans the attacker', async () => /peer banned/.test(a.stderr), 30_000)
      await fleet.until('a hangs up on it', async () => !attacker.connectedPeers().includes(a.peerId), 30_000)
      const health = (await fleet.get(a, '/v1/health')) as { ok: boolean }
      assert.equal(health.ok, true)
      assert.equal(tableKey(await jobsOf(a)), before, 'the table is unchanged')
      assert.equal(a.proc.exitCode, null, 'a is still running')
      assert.ok(/refused change/.test(a.stderr), 'the hostile change was refused')
    } finally {
      await attacker.stop()
    }
  })

  it('SIGTERM stops a node cleanly (exit 0)', async () => {
    assert.equal(await fleet.kill(c, 'SIGTERM'), 0)
  })
})
