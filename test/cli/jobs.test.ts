// biome-ignore-all lint/suspicious/noExplicitAny: the tests read untyped JSON output
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { ApiServer } from '../../node/api/index.ts'
import type { Fixture } from '../node/api-fixture.ts'
import { freePort, runCliAsync, servedFixture } from './jobs-run.ts'

describe('cis490-node status / jobs / show / workers / results', () => {
  let fx: Fixture
  let server: ApiServer
  let api: string
  before(async () => {
    ;({ fx, server, api } = await servedFixture())
  })
  after(() => server?.stop())

  it('a node that is not running: exit 1 with how to start one', async () => {
    const port = await freePort()
    const r = await runCliAsync(['jobs', '--api', `127.0.0.1:${port}`])
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.equal(
      r.stderr,
      `error: no cis490-node is running at http://127.0.0.1:${port} (start one with \`cis490-node start\`, or pass --api HOST:PORT)\n`,
    )
  })

  it('jobs --json prints the contract rows exactly; CIS490_API is honoured', async () => {
    const r = await runCliAsync(['jobs', '--json'], { CIS490_API: api })
    assert.equal(r.code, 0, r.stderr)
    const rows: any = JSON.parse(r.stdout)
    const direct: any = await (await fetch(`http://${api}/v1/jobs`)).json()
    assert.deepEqual(rows, direct)
    assert.equal(rows.length, 19)
    assert.ok(rows.every((j: any) => /^[0-9a-f]{64}$/.test(j.id)))
    const pending = rows.find((j: any) => j.id === fx.ids.needsCuda)
    assert.equal(pending.owner, null)
    assert.equal(pending.val_macro_f1, null)
  })

  it('jobs: a table with 12-digit ids, attempt/max, F1s and filters', async () => {
    const r = await runCliAsync(['jobs', '--api', api, '--model', 'gbt'])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    assert.match(lines[0], /^ID\s+MODEL\s+MODE\s+STATUS\s+ATTEMPT\s+HOST\s+PRIORITY\s+VAL F1\s+TEST F1\s+UPDATED$/)
    assert.equal(lines.length, 4)
    assert.match(
      lines[1],
      new RegExp(
        `^${fx.ids.done1.slice(0, 12)}\\s+gbt\\s+realistic\\s+completed\\s+2/3\\s+gpu-box\\s+100\\s+0\\.9100\\s+0\\.8500\\s+2023-11-14 22:15:00$`,
      ),
    )
    assert.match(
      lines[2],
      new RegExp(`^${fx.ids.needsCuda.slice(0, 12)}\\s+gbt\\s+realistic\\s+pending\\s+1/3\\s+-\\s+10\\s+-\\s+-\\s+`),
    )
    assert.equal(lines[3], '2 job(s): 1 pending, 1 completed')
    const st = await runCliAsync(['jobs', '--api', api, '--status', 'running', '--json'])
    assert.deepEqual(
      JSON.parse(st.stdout).map((j: any) => j.id),
      [fx.ids.running],
    )
    const bad = await runCliAsync(['jobs', '--api', api, '--status', 'done'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /--status "done": expected one of pending, claimed, running/)
  })

  it('show: every attempt and why a pending job waits; --json is the API object', async () => {
    const r = await runCliAsync(['show', fx.ids.done1.slice(0, 8), '--api', api])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^job\\s+${fx.ids.done1}$`, 'm'))
    assert.match(r.stdout, /^status\s+completed, attempt 2\/3, generation 0$/m)
    assert.match(r.stdout, /^GEN\s+ATTEMPT\s+ROUND\s+HOST\s+OUTCOME\s+CLAIMED\s+STARTED\s+ENDED\s+OWNER\s+ERROR$/m)
    assert.match(
      r.stdout,
      /^0\s+1\s+1\s+laptop\s+lapsed\s+2023-11-14 22:13:21\s+2023-11-14 22:13:21\s+2023-11-14 22:14:00\s+\S+\s+lease lapsed on laptop$/m,
    )
    assert.match(r.stdout, /^0\s+2\s+2\s+gpu-box\s+completed\s+/m)
    const w = await runCliAsync(['show', fx.ids.needsCuda.slice(0, 8), '--api', api])
    assert.match(w.stdout, /^waiting\s+no live peer may run it: needs CUDA; cpu-box denies gbt$/m)
    assert.match(w.stdout, /^constraints\s+needs CUDA$/m)
    assert.match(w.stdout, /no attempts yet/)
    const j = await runCliAsync(['show', fx.ids.requeued, '--json', '--api', api])
    assert.equal(j.code, 0, j.stderr)
    assert.deepEqual(JSON.parse(j.stdout), await (await fetch(`http://${api}/v1/jobs/${fx.ids.requeued}`)).json())
  })

  it('show: a bad, unknown or ambiguous prefix exits 2 naming it', async () => {
    const bad = await runCliAsync(['show', 'xyz', '--api', api])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /job id "xyz": expected hex digits/)
    const ids = [...Object.values(fx.ids).flat()] as string[]
    const digit = '0123456789abcdef'.split('').find((d) => ids.filter((id) => id.startsWith(d)).length > 1)
    const amb = await runCliAsync(['show', digit as string, '--api', api])
    assert.equal(amb.code, 2)
    assert.match(amb.stderr, new RegExp(`job id "${digit}": ambiguous`))
    const unknown = '0123456789abcdef'.split('').find((d) => !ids.some((id) => id.startsWith(d.repeat(4)))) as string
    const none = await runCliAsync(['show', unknown.repeat(4), '--api', api])
    assert.equal(none.code, 2)
    assert.match(none.stderr, /no job has this id or prefix/)
  })

  it('workers and results: tables, and --json exactly as the API', async () => {
    const w = await runCliAsync(['workers', '--api', api])
    assert.equal(w.code, 0, w.stderr)
    const lines = w.stdout.trimEnd().split('\n')
    assert.match(lines[0], /^HOST\s+LIVE\s+SCORE\s+CUDA\s+RAM\s+CORES\s+RUNNING\s+LAST SEEN\s+PEER$/)
    assert.match(
      lines[2],
      new RegExp(
        `^cpu-box\\s+yes\\s+3208\\s+-\\s+32 GiB\\s+8\\s+${fx.ids.running.slice(0, 12)}\\s+\\d+d ago\\s+${fx.peers.cpu.id}$`,
      ),
    )
    assert.match(lines[3], /^gpu-box\s+no\s+6416\s+24 GiB\s+64 GiB\s+16\s+-\s+/)
    const wj = await runCliAsync(['workers', '--json', '--api', api])
    const rows = JSON.parse(wj.stdout)
    assert.deepEqual(rows, fx.fleet.workers())
    for (const row of rows) {
      for (const k of ['peer_id', 'hostname', 'score', 'capability', 'last_seen', 'running']) assert.ok(k in row, k)
    }
    const r = await runCliAsync(['results', '--api', api])
    assert.equal(r.code, 0, r.stderr)
    const rl = r.stdout.trimEnd().split('\n')
    assert.match(rl[0], /^JOB\s+MODEL\s+MODE\s+VAL F1\s+TEST F1\s+HOST\s+FIT\s+BUNDLE$/)
    assert.match(
      rl[1],
      new RegExp(
        `^${fx.ids.done1.slice(0, 12)}\\s+gbt\\s+realistic\\s+0\\.9100\\s+0\\.8500\\s+gpu-box\\s+12\\.5s\\s+bafy-gpu-box-0\\.91$`,
      ),
    )
    assert.match(rl[2], new RegExp(`^${fx.ids.done2.slice(0, 12)}\\s+knn`))
    assert.equal(rl[3], '2 completed job(s)')
    const rj = await runCliAsync(['results', '--json', '--api', api])
    const results: any = JSON.parse(rj.stdout)
    assert.deepEqual(results, (await (await fetch(`http://${api}/v1/results`)).json()) as any)
    assert.deepEqual(Object.keys(results[0]), [
      'job',
      'model',
      'mode',
      'val_macro_f1',
      'test_macro_f1',
      'bundle',
      'host',
      'fit_seconds',
    ])
  })

  it('status: peer, fleet, addresses, workers and job counts', async () => {
    const r = await runCliAsync(['status', '--api', api])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^peer\s+12D3KooWFakeLocalPeer$/m)
    assert.match(r.stdout, /^fleet\s+lab$/m)
    assert.match(r.stdout, /^addresses\s+\/ip4\/127\.0\.0\.1\/tcp\/4001\/p2p\/12D3KooWFakeLocalPeer$/m)
    assert.match(r.stdout, /^workers\s+2 live of 3 known$/m)
    assert.match(r.stdout, /^jobs\s+19: 14 pending, 1 running, 2 completed, 1 failed, 1 cancelled$/m)
    const j = await runCliAsync(['status', '--json', '--api', api])
    const s = JSON.parse(j.stdout)
    assert.deepEqual(s.workers, { live: 2, total: 3 })
    assert.deepEqual(s.jobs, { pending: 14, claimed: 0, running: 1, completed: 2, failed: 1, cancelled: 1 })
  })

  it('a bad --api exits 2 naming it', async () => {
    const r = await runCliAsync(['status', '--api', 'localhost'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--api "localhost": expected HOST:PORT/)
  })
})
