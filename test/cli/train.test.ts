import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { readBundle } from '../../models/bundle/index.ts'
import { loadDataset } from '../../models/dataset/index.ts'
import { plainEnv, runCliProcess } from '../helpers/cli.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'

const BIN = fileURLToPath(new URL('../../cli/bin.ts', import.meta.url))

/**
 * Spawns `cis490-node train ...` and sends `signal` when a stderr line matches `when`.
 * @returns the exit code, whether the signal was sent, and the output.
 */
function trainUntil(args: string[], when: RegExp, signal: NodeJS.Signals) {
  return new Promise<{ code: number | null; sent: boolean; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'train', ...args], {
      env: plainEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let sent = false
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
      if (!sent && when.test(stderr)) {
        sent = true
        child.kill(signal)
      }
    })
    child.on('close', (code) => resolve({ code, sent, stdout, stderr }))
  })
}

describe('cis490-node train', () => {
  const root = mkdtempSync(join(tmpdir(), 'cis490-cli-train-'))
  after(() => rmSync(root, { recursive: true, force: true }))
  const data = join(root, 'data')
  const job = join(root, 'job.json')
  const temps = () => readdirSync(root).filter((f) => f.includes('.tmp-'))

  before(async () => {
    await makeSyntheticDataset(data, { episodes: 30, windows: 8, features: 24, realisticFeatures: 16 })
    writeFileSync(
      job,
      JSON.stringify({ model: 'knn', mode: 'realistic', hyper: { k: 5 }, split: { test_hosts: ['k-gamingcom'] } }),
    )
  })

  it('trains knn for real: JSON on stdout, a complete bundle, byte-identical on a rerun', async () => {
    const a = runCliProcess(['train', '--job-file', job, '--data', data, '--out', join(root, 'knn-a')])
    assert.equal(a.code, 0, a.stderr)
    const b = runCliProcess(['train', '--job-file', job, '--data', data, '--out', join(root, 'knn-b')])
    assert.equal(b.code, 0, b.stderr)
    const ra = JSON.parse(a.stdout)
    const rb = JSON.parse(b.stdout)
    assert.match(ra.bundle, /^bafy/)
    assert.equal(ra.bundle, rb.bundle)
    assert.equal(ra.model, 'knn')
    assert.match(ra.job_id, /^[0-9a-f]{64}$/)
    assert.ok(ra.metrics.val_macro_f1 > 0 && ra.metrics.val_macro_f1 <= 1)
    assert.equal(typeof ra.fit_seconds, 'number')
    assert.equal(ra.run.backend !== undefined, true)
    assert.match(a.stderr, /knn: predicted \d+ test rows/)
    const files = readdirSync(join(root, 'knn-a')).sort()
    assert.deepEqual(files, ['README.md', 'bundle.json', 'model.knn.bin', 'scaler.json'])
    for (const f of files) assert.deepEqual(readFileSync(join(root, 'knn-a', f)), readFileSync(join(root, 'knn-b', f)))
    const bundle = await readBundle(join(root, 'knn-a'), { dataset: await loadDataset(data, 'realistic') })
    assert.equal(bundle.meta.metrics.test_macro_f1, ra.metrics.test_macro_f1)
    assert.deepEqual(bundle.meta.hyper, { k: 5 })
  })

  it('takes a manifest job by id prefix, with the dataset relative to the manifest', () => {
    const manifest = join(root, 'fleet.toml')
    writeFileSync(
      manifest,
      `[fleet]\nname = "t"\ndataset = "data"\n\n[[jobs]]\nmodel = "knn"\nmode = "oracle"\nsplit = { test_hosts = ["elliott-thinkpad"] }\n`,
    )
    const check = runCliProcess(['manifest', 'check', manifest, '--json'])
    const id: string = JSON.parse(check.stdout)[0].id
    const r = runCliProcess(['train', '--manifest', manifest, '--job', id.slice(0, 8), '--out', join(root, 'm')], {
      cwd: tmpdir(),
    })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).job_id, id)
    const unknown = runCliProcess(['train', '--manifest', manifest, '--job', 'ffffffff', '--out', join(root, 'm2')])
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /no job has this id or prefix/)
    // A fleet whose dataset is a CID: the error says how to get the directory.
    const cid = 'bafybeiehlr6zafc5zicqkm5rznqcg7kbc3u35wyqyhcwk5kyeg5y5f42h4'
    const byCid = join(root, 'by-cid.toml')
    writeFileSync(byCid, readFileSync(manifest, 'utf8').replace('dataset = "data"', `dataset = "${cid}"`))
    const cidId: string = JSON.parse(runCliProcess(['manifest', 'check', byCid, '--json']).stdout)[0].id
    const r3 = runCliProcess(['train', '--manifest', byCid, '--job', cidId, '--out', join(root, 'm3')])
    assert.equal(r3.code, 2)
    assert.match(r3.stderr, new RegExp(`it is a CID: run \`cis490-node fetch ${cid} --out DIR\``))
    assert.equal(existsSync(join(root, 'm3')), false)
  })

  it('exits 2 on bad input, naming the file and field, the hosts, or the existing --out', () => {
    const bad = join(root, 'bad.json')
    writeFileSync(bad, JSON.stringify({ model: 'knn', mode: 'realistic', hyper: { k: 0 } }))
    const cases: [string[], RegExp][] = [
      [
        ['--job-file', bad, '--data', data, '--out', join(root, 'x')],
        /bad\.json: hyper\.k: expected a positive integer/,
      ],
      [['--job-file', job, '--out', join(root, 'x')], /--job-file needs --data/],
      [['--out', join(root, 'x')], /name the job/],
      [['--job-file', job, '--data', data, '--out', join(root, 'knn-a')], /knn-a exists; .*--force/],
      [
        ['--job-file', job, '--data', root, '--out', join(root, 'x')],
        /--data .*: not a dataset directory: it has no dataset\.toml/,
      ],
    ]
    const noTest = join(root, 'notest.json')
    writeFileSync(noTest, JSON.stringify({ model: 'knn', mode: 'realistic', split: { test_hosts: ['lab-z'] } }))
    cases.push([
      ['--job-file', noTest, '--data', data, '--out', join(root, 'x')],
      /split\.test_hosts: host "lab-z" has no rows \(dataset hosts: elliott-thinkpad, k-gamingcom\)/,
    ])
    for (const [args, pattern] of cases) {
      const r = runCliProcess(['train', ...args])
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, pattern)
    }
    assert.equal(existsSync(join(root, 'x')), false)
  })

  it('exits 1 when training fails at run time, leaving no --out', () => {
    const big = join(root, 'bigk.json')
    writeFileSync(
      big,
      JSON.stringify({ model: 'knn', mode: 'realistic', hyper: { k: 100000 }, split: { test_hosts: ['k-gamingcom'] } }),
    )
    const r = runCliProcess(['train', '--job-file', big, '--data', data, '--out', join(root, 'fails')])
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /training of job [0-9a-f]{64} \(knn\) failed: .*k = 100000 exceeds/)
    assert.equal(existsSync(join(root, 'fails')), false)
    assert.deepEqual(temps(), [])
  })

  it('stops on SIGTERM with exit 1, leaving no --out and no temp dir', async () => {
    const r = await trainUntil(['--job-file', job, '--data', data, '--out', join(root, 'term')], /^read /m, 'SIGTERM')
    assert.ok(r.sent, r.stderr)
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /stopped by SIGTERM/)
    assert.equal(r.stdout, '')
    assert.equal(existsSync(join(root, 'term')), false)
    assert.deepEqual(temps(), [])
  })

  it('leaves no partial --out when SIGKILLed, and the next run clears its temp dir', async () => {
    for (const when of [/^training knn/m, /^knn: predicted \d+ test rows/m]) {
      const out = join(root, 'killed')
      const r = await trainUntil(['--job-file', job, '--data', data, '--out', out], when, 'SIGKILL')
      assert.ok(r.sent)
      if (existsSync(out)) {
        // the kill came after the rename: the bundle must be whole
        assert.deepEqual(readdirSync(out).sort(), ['README.md', 'bundle.json', 'model.knn.bin', 'scaler.json'])
        await readBundle(out)
        rmSync(out, { recursive: true })
      }
      const next = runCliProcess(['train', '--job-file', job, '--data', data, '--out', out])
      assert.equal(next.code, 0, next.stderr)
      assert.deepEqual(temps(), [])
      rmSync(out, { recursive: true })
    }
  })
})
