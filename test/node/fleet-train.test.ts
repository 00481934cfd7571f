import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'
import { NodeFleet, type TestNode } from '../helpers/node-fleet.ts'

type JobRow = {
  id: string
  model: string
  mode: string
  status: string
  host: string | null
  bundle: string | null
  val_macro_f1: number | null
  attempt: number
}

const SPLIT = 'split = { test_hosts = ["k-gamingcom"] }'
const JOBS = [
  ['knn', 'realistic', 'hyper = { k = 3 }'],
  ['knn', 'oracle', 'hyper = { k = 3 }'],
  ['knn_semi', 'realistic', 'hyper = { k = 3 }'],
  ['gbt', 'oracle', 'hyper = { num_boost_round = 5, nthread = 1 }'],
]
  .map(([model, mode, hyper]) => `[[jobs]]\nmodel = "${model}"\nmode = "${mode}"\n${hyper}\n${SPLIT}\n`)
  .join('\n')

// Two real nodes that hold the dataset train real jobs in child processes: claims,
// leases, `cis490-node train`, results in the table. Host b denies gbt.
describe('real nodes train the fleet jobs', { timeout: 400_000 }, () => {
  let fleet: NodeFleet
  let a: TestNode
  let b: TestNode

  before(async () => {
    fleet = await NodeFleet.create({
      jobs: 0,
      dataset: 'data',
      jobsToml: JOBS,
      extraManifest: '[hosts.b]\ndeny_jobs = ["gbt"]\n',
    })
    await makeSyntheticDataset(join(fleet.files.dir, 'data'))
    // a holds the operator key: it loads the manifest's jobs at start.
    a = await fleet.start('a', {
      args: ['--manifest', fleet.files.manifest, '--operator-key', fleet.files.operatorKey, '--store'],
    })
    b = await fleet.start('b', { args: ['--manifest', fleet.files.manifest] })
  })
  after(() => fleet?.close())

  it('every job completes on a host its policy allows, with a bundle on that host', async () => {
    let rows: JobRow[] = []
    await fleet.until(
      'every job completed',
      async () => {
        rows = (await fleet.get(b, '/v1/jobs')) as JobRow[]
        return rows.length === 4 && rows.every((j) => j.status === 'completed')
      },
      300_000,
    )
    const gbt = rows.find((j) => j.model === 'gbt') as JobRow
    assert.equal(gbt.host, 'a', 'b denies gbt')
    for (const j of rows) {
      assert.match(j.bundle ?? '', /^bafy/, `${j.model} ${j.mode} has a bundle CID`)
      assert.equal(typeof j.val_macro_f1, 'number')
      const trainer = fleet.nodes.find((n) => n.name === j.host) as TestNode
      const runs = readdirSync(join(trainer.dataDir, 'runs')).filter((d) => d.startsWith(j.id))
      assert.equal(runs.length, 1, `one run dir of ${j.id.slice(0, 12)} on ${j.host}`)
      const bundle = JSON.parse(readFileSync(join(trainer.dataDir, 'runs', runs[0], 'bundle', 'bundle.json'), 'utf8'))
      assert.equal(bundle.job_id, j.id)
      assert.equal(bundle.model, j.model)
    }
    // Both peers derive the same results.
    const fromA = (await fleet.get(a, '/v1/results')) as { job: string; bundle: string }[]
    assert.deepEqual(fromA.map((r) => `${r.job}:${r.bundle}`).sort(), rows.map((j) => `${j.id}:${j.bundle}`).sort())
    assert.ok(!existsSync(join(a.dataDir, 'runs', 'pid')))
  })

  it('the store peer fetches and pins every bundle, and lists each once in bundles/index.jsonl', async () => {
    const rows = (await fleet.get(a, '/v1/jobs')) as JobRow[]
    const index = join(a.dataDir, 'bundles', 'index.jsonl')
    let entries: { job: string; cid: string; bytes: number; host: string }[] = []
    await fleet
      .until(
        'four bundles listed',
        async () => {
          entries = existsSync(index)
            ? readFileSync(index, 'utf8')
                .split('\n')
                .filter(Boolean)
                .map((l) => JSON.parse(l))
            : []
          return entries.length === 4
        },
        120_000,
      )
      .catch((err) => {
        const lines = a.stderr.split('\n').filter((l) => /"store"|node:store|fetching|pinned/.test(l))
        throw new Error(`${(err as Error).message}\n${lines.slice(-15).join('\n')}`)
      })
    assert.deepEqual(entries.map((e) => `${e.job}:${e.cid}`).sort(), rows.map((j) => `${j.id}:${j.bundle}`).sort())
    for (const e of entries) assert.ok(e.bytes > 0, `${e.job.slice(0, 12)} has bytes`)
    const pins = JSON.parse(readFileSync(join(a.dataDir, 'blocks', 'pins.json'), 'utf8'))
    const pinned = JSON.stringify(pins)
    for (const e of entries) assert.ok(pinned.includes(e.cid), `${e.cid} is pinned on the store peer`)
  })
})
