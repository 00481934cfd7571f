import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  cancelRecords,
  encodeRecord,
  manifestRecords,
  recordsOf,
  requeueRecords,
  type Signer,
} from '../../crdt/index.ts'
import {
  DEFAULT_PEER_INIT,
  encodeMessage,
  type HostCapability,
  PeerCore,
  type PeerEffect,
  type PeerInit,
} from '../../node/index.ts'
import { makeSigners, manifestWithJobs } from '../helpers/job-table.ts'

const CAP: HostCapability = {
  hostname: 'box',
  cuda: false,
  vram_gib: 0,
  ram_gib: 16,
  cores: 4,
  runtimes: ['xgboost', 'tfjs'],
}
const INIT: PeerInit = { ...DEFAULT_PEER_INIT, settleMs: 1000, decideMs: 10 }

/** One core with a manual clock; its effects are kept in order. */
function makeCore(signer: Signer, operator: Signer, stored: Uint8Array[] = [], start = 1_700_000_000_000) {
  const clock = { t: start, now: () => clock.t }
  const effects: PeerEffect[] = []
  /** What a document store would hold: every persisted chunk, compactions applied. */
  const persisted: Uint8Array[] = []
  let seed = 1
  const core = new PeerCore(
    {
      clock,
      random: () => {
        seed = (seed * 16807) % 2147483647
        return seed / 2147483647
      },
      signer,
      capability: CAP,
      trust: { operatorKeys: new Set([operator.id]) },
      actor: Buffer.from(`${signer.id.slice(-8)}${start}`)
        .toString('hex')
        .slice(0, 32)
        .padEnd(32, '0'),
      effects: (batch) => {
        for (const e of batch) {
          effects.push(e)
          if (e.type === 'persist') persisted.push(e.chunk)
          if (e.type === 'compact') persisted.splice(0, persisted.length, e.snapshot)
        }
      },
    },
    INIT,
    stored,
  )
  /** Advances the clock to the core's wake-up time (at most `max` ms) and ticks. */
  const run = (ms: number) => {
    const until = clock.t + ms
    while (core.wakeAt <= until) {
      clock.t = Math.max(clock.t, core.wakeAt)
      core.tick()
    }
    clock.t = until
  }
  return { core, clock, effects, persisted, run }
}

const kinds = (effects: readonly PeerEffect[]) =>
  effects.map((e) => (e.type === 'broadcast' || e.type === 'send' ? `${e.type}:${e.msg.type}` : e.type))

describe('PeerCore', async () => {
  const [me, op, stranger] = await makeSigners(3)
  const manifest = manifestWithJobs(2, [op.id])
  const specs = manifestRecords(op, manifest, [], 1_700_000_000_000).records

  it('persists every write before it sends it, and sends the start before the run begins', () => {
    const { core, effects, run } = makeCore(me, op)
    assert.equal(core.submit(specs).accepted, 2)
    run(10)
    const afterClaim = kinds(effects)
    const claimAt = afterClaim.indexOf('broadcast:changes', afterClaim.indexOf('broadcast:changes') + 1)
    assert.ok(claimAt > 0, `a claim was pushed: ${afterClaim}`)
    assert.equal(afterClaim[claimAt - 1], 'persist', 'the claim was persisted first')
    run(2000)
    const all = kinds(effects)
    const start = all.indexOf('start-run')
    assert.ok(start > 0, `a run started: ${all}`)
    const before = all.slice(0, start)
    assert.equal(before.at(-1) === 'broadcast:renew' || before.at(-1) === 'broadcast:changes', true)
    assert.ok(
      before.lastIndexOf('persist') > before.lastIndexOf('start-run'),
      'the start record is durable before the run',
    )
    assert.equal(core.activeRuns, 1)
  })

  it('refuses what an operator API must refuse, and counts re-submissions as unchanged', () => {
    const { core } = makeCore(me, op)
    assert.equal(core.submit(specs).accepted, 2)
    assert.deepEqual(core.submit(specs), { accepted: 0, unchanged: 2, rejected: [] })
    const again = manifestRecords(op, manifest, [], 1_700_000_999_000).records
    assert.equal(core.submit(again).unchanged, 2, 'the same specs signed later change nothing')
    const job = core.jobs()[0]
    const r = core.submit([
      new Uint8Array([1, 2, 3]),
      ...cancelRecords(stranger, job, 1),
      encodeRecord({ t: 'claim', j: job.id, at: 1, g: 0, r: 1, score: 1, host: 'h' }, op),
      ...cancelRecords(op, { id: 'f'.repeat(64) as never, generation: 0 }, 1),
    ])
    assert.deepEqual(
      r.rejected.map((x) => x.index),
      [0, 1, 2, 3],
    )
    assert.match(r.rejected[1].reason, /not an operator key/)
    assert.match(r.rejected[3].reason, /unknown job/)
    assert.equal(core.submit(cancelRecords(op, job, 2)).accepted, 1)
    assert.equal(core.job(job.id)?.status, 'cancelled')
  })

  it('refuses a requeue of a running job without force', () => {
    const { core, run } = makeCore(me, op)
    core.submit(specs)
    run(3000)
    const running = core.jobs().find((j) => j.status === 'running')
    assert.ok(running !== undefined)
    const forced = requeueRecords(op, running, { force: true }, 5)
    const plain = encodeRecord({ t: 'requeue', j: running.id, at: 5, g: running.generation + 1, force: false }, op)
    assert.match(core.submit([plain]).rejected[0]?.reason ?? '', /--force/)
    assert.equal(core.submit(forced).accepted, 1)
  })

  it('drops garbage from a peer, asks for the sender to be penalised, and keeps working', () => {
    const { core, effects, run } = makeCore(me, op)
    core.submit(specs)
    core.receive('12D3KooWGarbage', new Uint8Array([0xde, 0xad, 0xbe, 0xef]))
    core.receive('12D3KooWGarbage', encodeMessage({ type: 'sync', data: new Uint8Array([7, 7, 7]) }))
    run(500)
    const penalties = effects.filter((e) => e.type === 'penalise')
    assert.ok(penalties.length >= 2, JSON.stringify(penalties))
    assert.equal(core.stats.dropped >= 2, true)
    assert.ok(core.jobs().length === 2)
  })

  it('gives back its claims and runs on shutdown, durably, and restarts from what it persisted', () => {
    const { core, effects, persisted, run, clock } = makeCore(me, op)
    core.submit(specs)
    run(3000)
    assert.equal(core.activeRuns, 1)
    effects.length = 0
    core.shutdown()
    const k = kinds(effects)
    assert.equal(k[0], 'stop-run', `stop the run first: ${k}`)
    assert.ok(
      k.includes('persist') && k.indexOf('persist') < k.indexOf('broadcast:changes'),
      `persist, then push: ${k}`,
    )
    assert.ok(
      core.jobs().every((j) => j.status === 'pending'),
      'released jobs are pending again',
    )
    // A new incarnation from the persisted chunks sees the same table, and waits for catch-up before claiming.
    const next = makeCore(me, op, [...persisted], clock.t + 1000)
    assert.equal(recordsOf(next.core.doc).length, recordsOf(core.doc).length)
    next.run(INIT.catchUpMs - 1000)
    assert.equal(
      next.effects.some((e) => e.type === 'start-run'),
      false,
      'no run before the catch-up window ends',
    )
    next.run(INIT.catchUpMs + 2000)
    assert.ok(next.effects.some((e) => e.type === 'start-run'))
  })
})
