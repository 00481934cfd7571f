import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { loadSwarmKey } from '../../node/index.ts'
import { plainEnv } from '../helpers/cli.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'

const BIN = fileURLToPath(new URL('../../cli/bin.ts', import.meta.url))
const isRoot = process.getuid?.() === 0

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Spawns `cis490-node ARGS` (async, so that cases can run two at a time on two cores). */
function cli(args: readonly string[], timeoutMs = 180_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: plainEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** A user error: exit 2, one `error:` line naming the input, no stack trace. */
function assertUsage(r: Run, pattern: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.stderr}`)
  assert.match(r.stderr, /^error: /, what)
  assert.match(r.stderr, pattern, what)
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: a stack trace reached the user`)
}

type Case = readonly [args: readonly string[], pattern: RegExp]

/** Runs the cases two at a time and checks each is a usage error. */
async function assertAllUsage(cases: readonly Case[]): Promise<void> {
  const results: Run[] = new Array(cases.length)
  let next = 0
  const worker = async () => {
    while (next < cases.length) {
      const i = next++
      results[i] = await cli(cases[i][0])
    }
  }
  await Promise.all([worker(), worker()])
  for (const [i, [args, pattern]] of cases.entries()) assertUsage(results[i], pattern, args.join(' '))
}

describe('cis490-node as a new user meets it: bad input exits 2 naming the input', () => {
  const root = mkdtempSync(join(tmpdir(), 'cis490-cli-bad-'))
  after(() => {
    chmodSync(root, 0o700)
    rmSync(root, { recursive: true, force: true })
  })
  const data = join(root, 'data')
  const job = join(root, 'job.json')
  const manifest = join(root, 'fleet.toml')
  const file = join(root, 'notes.txt')
  const foreign = join(root, 'thesis')
  const noTemps = (dir: string) =>
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.tmp-') || f.includes('probe')),
      [],
      `temp files left in ${dir}`,
    )

  before(async () => {
    await makeSyntheticDataset(data, { episodes: 6, windows: 4, features: 8, realisticFeatures: 6 })
    writeFileSync(job, JSON.stringify({ model: 'knn', mode: 'realistic', split: { test_hosts: ['k-gamingcom'] } }))
    writeFileSync(
      manifest,
      '[fleet]\nname = "t"\ndataset = "data"\n\n[[jobs]]\nmodel = "knn"\nmode = "realistic"\nsplit = { test_hosts = ["k-gamingcom"] }\n',
    )
    writeFileSync(file, 'precious notes')
    mkdirSync(foreign)
    writeFileSync(join(foreign, 'chapter1.tex'), 'precious chapter')
  })

  const assertUntouched = () => {
    assert.equal(readFileSync(file, 'utf8'), 'precious notes')
    assert.deepEqual(readdirSync(foreign), ['chapter1.tex'])
    assert.equal(readFileSync(join(foreign, 'chapter1.tex'), 'utf8'), 'precious chapter')
  }

  it('dataset synth never deletes a file or a foreign directory at --out, with or without --force', async () => {
    const tiny = ['--episodes', '2', '--windows', '2', '--features', '4', '--realistic-features', '3']
    await assertAllUsage([
      [['dataset', 'synth', '--out', file, ...tiny], /--out .*notes\.txt: is a file; refusing/],
      [['dataset', 'synth', '--out', file, '--force', ...tiny], /--out .*notes\.txt: is a file; refusing/],
      [['dataset', 'synth', '--out', foreign, ...tiny], /thesis: exists and is not empty/],
      [
        ['dataset', 'synth', '--out', foreign, '--force', ...tiny],
        /thesis: .*not a dataset written by `dataset synth`/,
      ],
      [['dataset', 'synth', '--out', join(file, 'sub'), ...tiny], /--out .*notes\.txt\/sub: .*notes\.txt is a file/],
      [['dataset', 'synth', '--out', '/proc/cis490-synth', ...tiny], /--out \/proc\/cis490-synth: cannot create/],
      [['dataset', 'synth', '--out', '', ...tiny], /--out "": expected a path/],
      [['dataset', 'synth', '--out', join(root, 'huge'), '--windows', '999999999'], /--windows 999999999 .*too large/],
      [['dataset', 'synth', '--out', join(root, 'x'), '--episodes', 'many'], /--episodes <n>' argument 'many'/],
      [['dataset', 'synth', '--out', join(root, 'x'), '--format', 'xlsx'], /--format: expected csv or parquet/],
      [['dataset', 'synth', '--out', join(root, 'x'), '--name', ' '], /--name: expected a dataset name/],
      [['dataset', 'synth', '--out', join(root, 'x'), '--hosts', 'a,a'], /^error: --hosts: expected distinct names/],
      [
        ['dataset', 'synth', '--out', join(root, 'x'), '--hosts', 'a/b'],
        /^error: --hosts: host "a\/b": expected letters/,
      ],
    ])
    assertUntouched()
    noTemps(root)
  })

  it('dataset synth --force replaces only a dataset it wrote', async () => {
    const out = join(root, 'synth-again')
    const args = ['dataset', 'synth', '--out', out, '--episodes', '2', '--windows', '2', '--features', '4']
    const first = await cli([...args, '--realistic-features', '3', '--seed', '1'])
    assert.equal(first.code, 0, first.stderr)
    const before = readFileSync(join(out, 'dataset.toml'), 'utf8')
    assertUsage(await cli([...args, '--realistic-features', '3', '--seed', '2']), /exists and is not empty/, 'no force')
    const forced = await cli([...args, '--realistic-features', '3', '--seed', '2', '--force'])
    assert.equal(forced.code, 0, forced.stderr)
    assert.notEqual(readFileSync(join(out, 'dataset.toml'), 'utf8'), before)
    assert.match(readFileSync(join(out, 'dataset.toml'), 'utf8'), /seed 2\./)
    // A dataset with a file of the user's added is no longer ours to replace.
    writeFileSync(join(out, 'my-notes.md'), 'mine')
    assertUsage(
      await cli([...args, '--realistic-features', '3', '--force']),
      /not a dataset written by/,
      'foreign file',
    )
    assert.equal(readFileSync(join(out, 'my-notes.md'), 'utf8'), 'mine')
    noTemps(root)
  })

  it('keygen: a missing directory, a directory as --out (even with --force), a path inside a file', async () => {
    const dirOut = join(root, 'keys')
    mkdirSync(dirOut)
    await assertAllUsage([
      [
        ['keygen', '--out', join(root, 'missing', 'op.key')],
        /--out .*missing\/op\.key: directory .*missing does not exist/,
      ],
      [
        ['keygen', '--out', dirOut, '--force'],
        /--out .*keys: is a directory; give a file path such as .*keys\/operator\.key/,
      ],
      [['keygen', '--out', dirOut, '--swarm'], /is a directory; give a file path such as .*keys\/swarm\.key/],
      [
        ['keygen', '--out', join(file, 'op.key')],
        /--out .*notes\.txt\/op\.key: .*notes\.txt is a file, not a directory/,
      ],
      [['keygen', '--out', ''], /--out: expected a file path, got an empty string/],
      [
        ['keygen', '--out', '/proc/cis490.key'],
        /--out \/proc\/cis490\.key: cannot write the key: this file system does not/,
      ],
      [['keygen', '--out', file], /notes\.txt: exists; refusing to overwrite it \(use --force\)/],
    ])
    assert.deepEqual(readdirSync(dirOut), [], 'no private-key temp file is left in the directory')
    noTemps(root)
    assertUntouched()
  })

  it('keygen --swarm --force replaces a swarm key with a valid one', async () => {
    const out = join(root, 'swarm.key')
    assert.equal((await cli(['keygen', '--swarm', '--out', out])).code, 0)
    const first = readFileSync(out, 'utf8')
    assertUsage(await cli(['keygen', '--swarm', '--out', out]), /swarm\.key: exists; refusing/, 'no force')
    const r = await cli(['keygen', '--swarm', '--out', out, '--force'])
    assert.equal(r.code, 0, r.stderr)
    assert.notEqual(readFileSync(out, 'utf8'), first)
    assert.equal(loadSwarmKey(out).length, first.length)
    noTemps(root)
  })

  it('keygen into a read-only directory', { skip: isRoot && 'root writes anywhere' }, async () => {
    const ro = join(root, 'ro')
    mkdirSync(ro)
    chmodSync(ro, 0o500)
    try {
      assertUsage(await cli(['keygen', '--out', join(ro, 'op.key')]), /cannot write in .*ro: permission denied/, 'ro')
      assert.deepEqual(readdirSync(ro), [])
    } finally {
      chmodSync(ro, 0o700)
    }
  })

  it('train checks every input before loading data or training', async () => {
    const out = join(root, 'bundle')
    const base = ['train', '--job-file', job, '--data', data]
    const cases: Case[] = [
      [[...base, '--out', join(file, 'b')], /--out .*notes\.txt\/b: .*notes\.txt is a file, not a directory/],
      [[...base, '--out', '/proc/cis490-bundle'], /--out \/proc\/cis490-bundle: cannot create anything in \/proc/],
      [[...base, '--out', out, '--backend', 'bogus'], /--backend "bogus": unknown tfjs backend; use one of wasm, cpu/],
      [[...base, '--out', file, '--force'], /--out .*notes\.txt: is a file; refusing to replace it/],
      [[...base, '--out', foreign, '--force'], /--out .*thesis: a directory that is not a bundle; --force only/],
      [[...base, '--out', foreign], /thesis exists; choose another --out or pass --force/],
      [[...base, '--out', ''], /--out "": expected a path/],
      [
        ['train', '--job-file', join(root, 'nope.json'), '--data', data, '--out', out],
        /--job-file .*nope\.json: no such file/,
      ],
      [
        ['train', '--job-file', root, '--data', data, '--out', out],
        /--job-file .*: is a directory, expected a job file/,
      ],
      [
        ['train', '--job-file', job, '--data', file, '--out', out],
        /--data .*notes\.txt: is a file; expected a dataset/,
      ],
      [
        ['train', '--job-file', job, '--data', join(root, 'nodata'), '--out', out],
        /--data .*nodata: no such directory/,
      ],
      [['train', '--job-file', job, '--data', foreign, '--out', out], /--data .*thesis: not a dataset directory/],
      [
        ['train', '--manifest', join(root, 'nope.toml'), '--job', 'ab', '--out', out],
        /--manifest .*nope\.toml: no such file/,
      ],
      [['train', '--manifest', manifest, '--job', '', '--out', out], /--job: expected a job id/],
      [
        ['train', '--manifest', manifest, '--job', 'ab', '--job-file', job, '--out', out],
        /either --job-file, or --manifest/,
      ],
      [['train', '--job-file', job, '--data', data], /required option '--out <dir>' not specified/],
      [['train', '--job-file', job, '--data', data, '--out', out, '--epochs', '3'], /unknown option '--epochs'/],
    ]
    const results: Run[] = []
    for (let i = 0; i < cases.length; i += 2)
      results.push(...(await Promise.all(cases.slice(i, i + 2).map(([args]) => cli(args)))))
    for (const [i, [args, pattern]] of cases.entries()) {
      assertUsage(results[i], pattern, args.join(' '))
      // Refused before the work: nothing was loaded or trained.
      assert.doesNotMatch(results[i].stderr, /^(loaded|split:|training) /m, args.join(' '))
    }
    assertUntouched()
    noTemps(root)
    assert.deepEqual(readdirSync(root).includes('bundle'), false)
  })

  it('manifest, dataset info, sim and the command line itself', async () => {
    await assertAllUsage([
      [['manifest', 'check', root], /: is a directory, expected a manifest \(TOML\)/],
      [['manifest', 'check', join(root, 'nope.toml')], /nope\.toml: no such file \(expected a manifest/],
      [['dataset', 'info', join(root, 'nope')], /nope: no such directory \(expected a dataset directory\)/],
      [['dataset', 'info', file], /notes\.txt: is a file, expected a dataset directory/],
      [['dataset', 'info', foreign], /thesis\/dataset\.toml: not found/],
      [['sim', '--peers', '0x10'], /--peers "0x10": expected an integer/],
      [['sim', '--seed', '1e3'], /--seed "1e3": expected an integer/],
      [['no-such-command'], /unknown command 'no-such-command'/],
      [['--no-such-option'], /unknown option '--no-such-option'/],
      [['keygen', '--out'], /option '--out <file>' argument missing/],
    ])
  })
})
