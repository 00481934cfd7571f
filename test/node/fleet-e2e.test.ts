import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as digestOf } from 'multiformats/hashes/digest'
import { NodeFleet, runCli, type TestNode } from '../helpers/node-fleet.ts'

type JobRow = {
  id: string
  model: string
  mode: string
  status: string
  host: string | null
  bundle: string | null
  generation: number
}

const MODELS = ['gbt', 'knn', 'knn_semi', 'mlp'] as const
const HYPER: Record<(typeof MODELS)[number], string> = {
  gbt: 'hyper = { num_boost_round = 5, nthread = 1 }',
  knn: 'hyper = { k = 3 }',
  knn_semi: 'hyper = { k = 3 }',
  mlp: 'hyper = { epochs = 2, hidden = 16, layers = 1, batch_size = 32, patience = 1 }',
}
const JOBS = MODELS.flatMap((model) =>
  ['oracle', 'realistic'].map(
    (mode) =>
      `[[jobs]]\nmodel = "${model}"\nmode = "${mode}"\n${HYPER[model]}\nsplit = { test_hosts = ["k-gamingcom"] }\n`,
  ),
).join('\n')
// b may not run gbt; c may run nothing (it only holds the table, the dataset and what it fetches)
const POLICIES =
  '[hosts.b]\ndeny_jobs = ["gbt"]\n\n[hosts.c]\ndeny_jobs = ["gbt", "knn", "knn_semi", "mlp", "cnn", "gru", "lstm", "transformer"]\n'

/** Every regular file under `dir`, by relative path, with its bytes' sha256. */
function fileHashes(dir: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue
    const path = join(e.parentPath, e.name)
    out.set(path.slice(dir.length + 1), createHash('sha256').update(readFileSync(path)).digest('hex'))
  }
  return out
}

/** Blocks in a node's block store (blockstore-fs `.data` files). */
function storedBlocks(dataDir: string): number {
  return readdirSync(join(dataDir, 'blocks'), { recursive: true }).filter((n) => String(n).endsWith('.data')).length
}

/** The node's whole log (its stderr in the test is cut short when long). */
function nodeLog(node: TestNode): string {
  return readFileSync(join(node.dataDir, 'node.log'), 'utf8')
}

function indexLines(node: TestNode): { job: string; cid: string; bytes: number }[] {
  const file = join(node.dataDir, 'bundles', 'index.jsonl')
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
}

// Three real peers on loopback (mDNS off), the dataset given by CID: `dataset add` puts it in a's
// block store before a starts; b and c fetch it from the fleet. a is the operator and the store
// peer, a and b train (b never gbt), c trains nothing and fetches every bundle with `cis490-node fetch`.
describe('a fleet trains a dataset given by CID and every bundle travels by CID', { timeout: 600_000 }, () => {
  let fleet: NodeFleet
  let a: TestNode
  let b: TestNode
  let c: TestNode
  let datasetDir = ''
  let datasetCid = ''

  before(async () => {
    fleet = await NodeFleet.create({
      jobs: 0,
      jobsToml: JOBS,
      extraManifest: POLICIES,
      dataset: async (dir) => {
        datasetDir = join(dir, 'data')
        const synth = await runCli(
          ['dataset', 'synth', '--out', datasetDir, '--episodes', '12', '--windows', '6', '--features', '16'].concat([
            '--realistic-features',
            '10',
            '--classes',
            '3',
          ]),
        )
        assert.equal(synth.code, 0, synth.stderr)
        const add = await runCli(['dataset', 'add', datasetDir, '--data-dir', join(dir, 'a')])
        assert.equal(add.code, 0, add.stderr)
        datasetCid = add.stdout.trim().split('\n').at(-1) ?? ''
        assert.match(datasetCid, /^bafy/)
        return datasetCid
      },
    })
    a = await fleet.start('a', {
      args: ['--manifest', fleet.files.manifest, '--operator-key', fleet.files.operatorKey, '--store'],
    })
    b = await fleet.start('b', { args: ['--manifest', fleet.files.manifest] })
    c = await fleet.start('c', { args: ['--manifest', fleet.files.manifest] })
  })
  after(() => fleet?.close())

  it('every job completes on a peer its host policy allows', async () => {
    let rows: JobRow[] = []
    await fleet
      .until(
        'all 8 jobs completed',
        async () => {
          rows = (await fleet.get(c, '/v1/jobs')) as JobRow[]
          return rows.length === 8 && rows.every((j) => j.status === 'completed')
        },
        420_000,
      )
      .catch((err) => {
        const states = rows.map((j) => `${j.model}/${j.mode}: ${j.status} on ${j.host}`).join('; ')
        throw new Error(`${(err as Error).message}\n${states}\n${b.stderr.slice(-3000)}`)
      })
    for (const j of rows) {
      assert.ok(j.host === 'a' || j.host === 'b', `${j.model} ${j.mode} ran on ${j.host}, which c's policy forbids`)
      if (j.model === 'gbt') assert.equal(j.host, 'a', `b denies gbt, yet ${j.mode} gbt ran there`)
      assert.match(j.bundle ?? '', /^bafy/)
    }
    assert.ok(
      rows.some((j) => j.host === 'b'),
      'b trained some jobs (on the dataset it fetched by CID)',
    )
  })

  it('peers fetched the dataset by CID, checked it and cached it as the same files', () => {
    const source = fileHashes(datasetDir)
    for (const node of [b, c]) {
      const cached = join(node.dataDir, 'datasets', datasetCid)
      assert.deepEqual(fileHashes(cached), source, `${node.name}'s datasets/${datasetCid.slice(0, 12)}`)
      const pins = readFileSync(join(node.dataDir, 'blocks', 'pins.json'), 'utf8')
      assert.ok(pins.includes(datasetCid), `${node.name} pins the dataset`)
      const fetches = nodeLog(node)
        .split('\n')
        .filter((l) => l.includes('fleet dataset fetched and checked'))
      assert.equal(fetches.length, 1, `${node.name} fetched the dataset once`)
    }
  })

  it('the store peer pins every bundle and lists each once in bundles/index.jsonl', async () => {
    const rows = (await fleet.get(a, '/v1/jobs')) as JobRow[]
    await fleet.until('8 bundles listed on a', async () => indexLines(a).length === 8, 120_000)
    const entries = indexLines(a)
    assert.deepEqual(entries.map((e) => `${e.job}:${e.cid}`).sort(), rows.map((j) => `${j.id}:${j.bundle}`).sort())
    const pins = readFileSync(join(a.dataDir, 'blocks', 'pins.json'), 'utf8')
    for (const e of entries) assert.ok(pins.includes(e.cid), `${e.cid} pinned on a`)
    const jobs = await fleet.cli(['jobs', '--api', a.api])
    assert.equal(jobs.code, 0, jobs.stderr)
    assert.doesNotMatch(jobs.stderr, /no store peer/, 'a store peer is in the fleet: no warning')
  })

  it('`fetch JOB_ID` from the third peer reproduces every file of every bundle byte for byte', async () => {
    const rows = (await fleet.get(c, '/v1/jobs')) as JobRow[]
    const fetchOne = (j: JobRow) =>
      fleet.cli(['fetch', j.id.slice(0, 12), '--out', join(fleet.files.dir, 'fetched', j.id), '--api', c.api, '--json'])
    // three at a time: the CLI's start-up, not the transfer, is most of each fetch on a loaded host
    const runs: Awaited<ReturnType<typeof fetchOne>>[] = []
    for (let i = 0; i < rows.length; i += 3) runs.push(...(await Promise.all(rows.slice(i, i + 3).map(fetchOne))))
    for (const [i, j] of rows.entries()) {
      const out = join(fleet.files.dir, 'fetched', j.id)
      const r = runs[i]
      assert.equal(r.code, 0, `fetch ${j.model} ${j.mode}: ${r.stderr}`)
      const printed = JSON.parse(r.stdout) as { cid: string; job: string; files: number }
      assert.equal(printed.cid, j.bundle)
      assert.equal(printed.job, j.id)
      assert.match(r.stderr, /blocks/, 'progress lines on stderr')
      const trainer = fleet.nodes.find((n) => n.name === j.host) as TestNode
      const run = readdirSync(join(trainer.dataDir, 'runs')).find((d) => d.startsWith(j.id)) as string
      const original = fileHashes(join(trainer.dataDir, 'runs', run, 'bundle'))
      assert.ok(original.has('bundle.json'))
      assert.deepEqual(fileHashes(out), original, `${j.model} ${j.mode}: fetched files equal the trainer's`)
      assert.equal(printed.files, original.size)
    }
    const pins = readFileSync(join(c.dataDir, 'blocks', 'pins.json'), 'utf8')
    for (const j of rows) assert.ok(pins.includes(j.bundle as string), `c pinned ${j.model} ${j.mode}'s bundle`)
    // by CID too, into a directory of its own
    const byCid = await fleet.cli([
      'fetch',
      rows[0].bundle as string,
      '--out',
      join(fleet.files.dir, 'by-cid'),
      '--api',
      c.api,
    ])
    assert.equal(byCid.code, 0, byCid.stderr)
    assert.deepEqual(
      fileHashes(join(fleet.files.dir, 'by-cid')),
      fileHashes(join(fleet.files.dir, 'fetched', rows[0].id)),
    )
  })

  // a fetch reaches the peers its node is connected to: a, everyone's bootstrap peer, is connected to b
  it("`dataset add` through a running node's API stores it there; another peer fetches it by CID", async () => {
    const dir = join(fleet.files.dir, 'data2')
    const synth = await fleet.cli([
      'dataset',
      'synth',
      '--out',
      dir,
      '--episodes',
      '4',
      '--windows',
      '4',
      '--seed',
      '7',
    ])
    assert.equal(synth.code, 0, synth.stderr)
    const add = await fleet.cli(['dataset', 'add', dir, '--api', b.api])
    assert.equal(add.code, 0, add.stderr)
    assert.match(add.stderr, new RegExp(`to the node at http://${b.api.replace(/\./g, '\\.')}`))
    const cid = add.stdout.trim()
    assert.match(cid, /^bafy/)
    assert.ok(readFileSync(join(b.dataDir, 'blocks', 'pins.json'), 'utf8').includes(cid), 'b pinned it')
    const out = join(fleet.files.dir, 'data2-fetched')
    const r = await fleet.cli(['fetch', cid, '--out', out, '--api', a.api, '--timeout', '60'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(fileHashes(out), fileHashes(dir))
  })

  it('fetch errors name the input: unknown job and bad CID exit 2, a CID nobody has exits 1 in its timeout', async () => {
    const out = join(fleet.files.dir, 'never')
    const unknown = await fleet.cli(['fetch', 'ffffffffffff', '--out', out, '--api', c.api])
    assert.equal(unknown.code, 2, unknown.stderr)
    assert.match(unknown.stderr, /^error: .*ffffffffffff/m)
    const bad = await fleet.cli(['fetch', 'bafynotacid', '--out', out, '--api', c.api])
    assert.equal(bad.code, 2, bad.stderr)
    assert.match(bad.stderr, /^error: "bafynotacid": expected a CID/m)
    const existing = await fleet.cli(['fetch', 'ffff', '--out', fleet.files.dir, '--api', c.api])
    assert.equal(existing.code, 2)
    assert.match(existing.stderr, /--out .*already exists/)
    const nobody = CID.createV1(raw.code, digestOf(0x12, createHash('sha256').update(randomBytes(32)).digest()))
    const started = Date.now()
    const missing = await fleet.cli(['fetch', nobody.toString(), '--out', out, '--api', c.api, '--timeout', '3'])
    assert.equal(missing.code, 1, missing.stderr)
    assert.match(missing.stderr, new RegExp(`^error: could not fetch ${nobody}: .*timed out after 3000 ms`, 'm'))
    assert.ok(Date.now() - started < 30_000, 'it gave up near its timeout')
    assert.equal(existsSync(out), false, 'nothing written')
  })

  it('a bit-identical re-run gives the same CID and is stored once', async () => {
    const rows = (await fleet.get(a, '/v1/jobs')) as JobRow[]
    const job = rows.find((j) => j.model === 'knn' && j.mode === 'realistic') as JobRow
    const blocksBefore = storedBlocks(a.dataDir)
    const requeue = await fleet.cli(['requeue', job.id.slice(0, 12), '--key', fleet.files.operatorKey, '--api', a.api])
    assert.equal(requeue.code, 0, requeue.stderr)
    let again: JobRow | undefined
    await fleet.until(
      'the requeued job completed again',
      async () => {
        again = ((await fleet.get(a, '/v1/jobs')) as JobRow[]).find((j) => j.id === job.id)
        return again?.generation === job.generation + 1 && again.status === 'completed'
      },
      180_000,
    )
    assert.equal(again?.bundle, job.bundle, 'same job, same data: same bundle CID')
    const trainer = fleet.nodes.find((n) => n.name === again?.host) as TestNode
    const imports = nodeLog(trainer)
      .split('\n')
      .filter((l) => l.includes('directory imported') && l.includes(job.bundle as string))
    assert.ok(imports.length >= 1, `${trainer.name} imported the re-run's bundle`)
    assert.match(imports.at(-1) as string, /"newBlocks":0/, 'the re-run stored no new block')
    // the store peer neither stores nor lists it again
    await new Promise((r) => setTimeout(r, 2000))
    assert.equal(indexLines(a).filter((e) => e.job === job.id).length, 1)
    assert.equal(storedBlocks(a.dataDir), blocksBefore)
  })
})

// Item "a trainer keeps its bundle until a store peer holds it": b trains the only job while no
// store peer exists, dies (SIGKILL) after completing it, and a store peer that starts meanwhile
// cannot get the bundle until b is back; b restarts with its bundle still pinned and c pins it.
describe('a completed bundle outlives its trainer until a store peer holds it', { timeout: 300_000 }, () => {
  const NONE = '["gbt", "knn", "knn_semi", "mlp", "cnn", "gru", "lstm", "transformer"]'
  let fleet: NodeFleet
  let a: TestNode
  let b: TestNode

  before(async () => {
    fleet = await NodeFleet.create({
      jobs: 0,
      dataset: async (dir) => {
        const r = await runCli(['dataset', 'synth', '--out', join(dir, 'data'), '--episodes', '6', '--windows', '5'])
        assert.equal(r.code, 0, r.stderr)
        return 'data'
      },
      jobsToml:
        '[[jobs]]\nmodel = "knn"\nmode = "realistic"\nhyper = { k = 3 }\nsplit = { test_hosts = ["k-gamingcom"] }\n',
      extraManifest: `[hosts.a]\ndeny_jobs = ${NONE}\n\n[hosts.c]\ndeny_jobs = ${NONE}\n`,
    })
    a = await fleet.start('a', {
      args: ['--manifest', fleet.files.manifest, '--operator-key', fleet.files.operatorKey],
    })
    b = await fleet.start('b', { args: ['--manifest', fleet.files.manifest] })
  })
  after(() => fleet?.close())

  it('with no store peer, `jobs` warns that results live only on their trainers; JSON stays the list', async () => {
    await fleet.until(
      'the job completed on b',
      async () => {
        const rows = (await fleet.get(a, '/v1/jobs')) as JobRow[]
        return rows.length === 1 && rows[0].status === 'completed' && rows[0].host === 'b'
      },
      180_000,
    )
    const table = await fleet.cli(['jobs', '--api', a.api])
    assert.equal(table.code, 0, table.stderr)
    assert.match(
      table.stderr,
      /^warning: no store peer in the fleet: the results of 1 job\(s\) live only on their trainers/m,
    )
    const json = await fleet.cli(['jobs', '--json', '--api', a.api])
    assert.equal(json.code, 0, json.stderr)
    assert.equal((JSON.parse(json.stdout) as unknown[]).length, 1)
  })

  it('b dies after completing; the store peer gets the bundle once b is back, and b still had it pinned', async () => {
    const [job] = (await fleet.get(a, '/v1/jobs')) as JobRow[]
    await fleet.kill(b)
    const c = await fleet.start('c', { args: ['--manifest', fleet.files.manifest, '--store'] })
    await new Promise((r) => setTimeout(r, 4000))
    assert.equal(indexLines(c).length, 0, 'nobody else holds the bundle while b is down')
    b = await fleet.start('b', { args: ['--manifest', fleet.files.manifest], dataDir: b.dataDir, bootstrapTo: [a, c] })
    assert.ok(
      readFileSync(join(b.dataDir, 'blocks', 'pins.json'), 'utf8').includes(job.bundle as string),
      'b kept its bundle pinned across the crash',
    )
    await fleet.until('c pinned the bundle', async () => indexLines(c).some((e) => e.cid === job.bundle), 150_000)
    assert.ok(readFileSync(join(c.dataDir, 'blocks', 'pins.json'), 'utf8').includes(job.bundle as string))
    await fleet.until('a knows c as a store peer', async () =>
      ((await fleet.get(a, '/v1/workers')) as { store: boolean }[]).some((w) => w.store),
    )
    const table = await fleet.cli(['jobs', '--api', a.api])
    assert.doesNotMatch(table.stderr, /no store peer/, 'a store peer is known now')
  })
})
