// biome-ignore-all lint/suspicious/noExplicitAny: the tests read untyped JSON output
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { ApiServer } from '../../node/api/index.ts'
import { generateKey, savePrivateKey } from '../../node/index.ts'
import type { Fixture } from '../node/api-fixture.ts'
import { freePort, runCliAsync, servedFixture } from './jobs-run.ts'

describe('cis490-node reload / cancel / requeue', () => {
  let fx: Fixture
  let server: ApiServer
  let api: string
  const dir = mkdtempSync(join(tmpdir(), 'cis490-ops-'))
  const key = join(dir, 'operator.key')
  const otherKey = join(dir, 'other.key')
  const manifest = join(dir, 'fleet.toml')
  const job = async (id: string): Promise<any> => (await fetch(`http://${api}/v1/jobs/${id}`)).json()
  before(async () => {
    ;({ fx, server, api } = await servedFixture())
    savePrivateKey(key, fx.operatorKey)
    savePrivateKey(otherKey, await generateKey())
    writeFileSync(manifest, fx.manifestText)
  })
  after(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('reload: the same manifest changes nothing; a new job is added; --json is the node answer', async () => {
    const same = await runCliAsync(['reload', manifest, '--key', key, '--api', api])
    assert.equal(same.code, 0, same.stderr)
    assert.equal(same.stdout, `${manifest}: 19 job(s): 0 added or updated, 19 unchanged\n`)
    const grown = join(dir, 'grown.toml')
    writeFileSync(grown, `${fx.manifestText}\n[[jobs]]\nmodel = "gbt"\nmode = "oracle"\nseed = 99\n`)
    const r = await runCliAsync(['reload', grown, '--json', '--api', api], { CIS490_OPERATOR_KEY: key })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), { accepted: 1, unchanged: 19, rejected: [] })
    const jobs = (await (await fetch(`http://${api}/v1/jobs?mode=oracle&model=gbt`)).json()) as any[]
    assert.deepEqual(
      jobs.map((j) => [j.status, j.attempt, j.generation]),
      [['pending', 1, 0]],
    )
  })

  it('reload: a key the fleet does not trust is refused (exit 1 with the reason)', async () => {
    const r = await runCliAsync(['reload', manifest, '--key', otherKey, '--api', api])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /refused 19 record\(s\): record 0: \S+: not one of the fleet's operator_keys/)
  })

  it('reload: a bad manifest, a missing or bad key exit 2 naming the input', async () => {
    const bad = join(dir, 'bad.toml')
    writeFileSync(
      bad,
      '[fleet]\nname = "x"\ndataset = "d"\n[[jobs]]\nmodel = "knn"\nmode = "m"\nhyper = { k = "ten" }\n',
    )
    const m = await runCliAsync(['reload', bad, '--key', key, '--api', api])
    assert.equal(m.code, 2)
    assert.match(m.stderr, /bad\.toml: jobs\[0\]\.hyper\.k: expected a positive integer/)
    const none = await runCliAsync(['reload', manifest, '--api', api])
    assert.equal(none.code, 2)
    assert.match(none.stderr, /no operator key: pass --key FILE or set CIS490_OPERATOR_KEY/)
    const garbage = join(dir, 'garbage.key')
    writeFileSync(garbage, 'not a key')
    const g = await runCliAsync(['reload', manifest, '--key', garbage, '--api', api])
    assert.equal(g.code, 2)
    assert.match(g.stderr, new RegExp(`${garbage.replace(/[.]/g, '\\.')}: `))
    const missing = await runCliAsync(['reload', manifest, '--key', join(dir, 'nope.key'), '--api', api])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /nope\.key: /)
  })

  it('cancel: by prefix; again says so; a completed job is refused', async () => {
    const id = fx.ids.fillers[1]
    const r = await runCliAsync(['cancel', id.slice(0, 10), '--key', key, '--api', api])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `cancelled job ${id.slice(0, 12)} (generation 0)\n`)
    assert.equal((await job(id)).status, 'cancelled')
    const again = await runCliAsync(['cancel', id, '--key', key, '--api', api])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(again.stdout, `job ${id.slice(0, 12)} is already cancelled\n`)
    const done = await runCliAsync(['cancel', fx.ids.done2, '--key', key, '--api', api])
    assert.equal(done.code, 2)
    assert.match(done.stderr, /is completed; only pending, claimed or running jobs are cancelled/)
    const bad = await runCliAsync(['cancel', 'nothex', '--key', key, '--api', api])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /job id "nothex": expected hex digits/)
  })

  it('requeue: refused for a running job without --force; with it a new generation starts', async () => {
    const id = fx.ids.running
    const refused = await runCliAsync(['requeue', id.slice(0, 12), '--key', key, '--api', api])
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /is running; requeue it with --force/)
    assert.equal((await job(id)).generation, 0)
    const r = await runCliAsync(['requeue', id.slice(0, 12), '--force', '--key', key, '--api', api])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, `requeued job ${id.slice(0, 12)}: generation 1 starts from attempt 1 (was running)\n`)
    const after = await job(id)
    assert.deepEqual([after.status, after.generation, after.attempt], ['pending', 1, 1])
    assert.deepEqual(
      after.attempts.map((a: any) => [a.generation, a.outcome]),
      [[0, 'requeued']],
    )
    const failed = await runCliAsync(['requeue', fx.ids.failed, '--json', '--key', key, '--api', api])
    assert.equal(failed.code, 0, failed.stderr)
    assert.deepEqual(JSON.parse(failed.stdout), { accepted: 1, unchanged: 0, rejected: [] })
    assert.equal((await job(fx.ids.failed)).status, 'pending')
  })

  it('a node that is not running: exit 1', async () => {
    const port = await freePort()
    const r = await runCliAsync(['cancel', fx.ids.done1, '--key', key, '--api', `127.0.0.1:${port}`])
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      new RegExp(`^error: no cis490-node is running at http://127\\.0\\.0\\.1:${port} \\(start one with`),
    )
  })
})
