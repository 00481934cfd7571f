import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { loadDataset } from '../../models/dataset/index.ts'
import { runCliProcess } from '../helpers/cli.ts'

describe('cis490-node dataset', () => {
  const root = mkdtempSync(join(tmpdir(), 'cis490-cli-dataset-'))
  after(() => rmSync(root, { recursive: true, force: true }))
  const out = join(root, 'ds')

  it('synth writes the dataset the flags describe, and info reports it', async () => {
    const r = runCliProcess([
      'dataset',
      'synth',
      '--out',
      out,
      '--hosts',
      'lab-a,lab-b,lab-c',
      '--episodes',
      '5',
      '--windows',
      '4',
      '--features',
      '20',
      '--realistic-features',
      '12',
      '--classes',
      '3',
      '--seed',
      '9',
      '--format',
      'parquet',
      '--json',
    ])
    assert.equal(r.code, 0, r.stderr)
    const summary = JSON.parse(r.stdout)
    assert.equal(summary.windows, 60)
    assert.equal(summary.oracle_features, 8)
    assert.deepEqual(readdirSync(out).sort(), ['dataset.toml', 'lab-a.parquet', 'lab-b.parquet', 'lab-c.parquet'])
    assert.match(readFileSync(join(out, 'dataset.toml'), 'utf8'), /\[modes\.realistic\]\nexclude = \["oracle_\*"\]/)

    const info = runCliProcess(['dataset', 'info', out, '--json'])
    assert.equal(info.code, 0, info.stderr)
    const j = JSON.parse(info.stdout)
    const real = await loadDataset(out, 'realistic')
    assert.equal(j.windows, 60)
    assert.equal(j.episodes, 15)
    assert.deepEqual(j.hosts, [
      { host: 'lab-a', episodes: 5, windows: 20 },
      { host: 'lab-b', episodes: 5, windows: 20 },
      { host: 'lab-c', episodes: 5, windows: 20 },
    ])
    assert.deepEqual(
      j.classes.map((c: { name: string }) => c.name),
      real.classes,
    )
    assert.equal(
      j.classes.reduce((s: number, c: { windows: number }) => s + c.windows, 0),
      60,
    )
    assert.deepEqual(j.modes, [
      { name: 'oracle', features: 20, schema_hash: (await loadDataset(out, 'oracle')).schemaHash },
      { name: 'realistic', features: 12, schema_hash: real.schemaHash },
    ])

    const text = runCliProcess(['dataset', 'info', out])
    assert.equal(text.code, 0)
    assert.match(text.stdout, /^HOST\s+EPISODES\s+WINDOWS\nlab-a\s+5\s+20$/m)
    assert.match(text.stdout, new RegExp(`^realistic\\s+12\\s+${real.schemaHash}$`, 'm'))
  })

  it('exits 2 on bad flags, a non-empty --out and a directory that is not a dataset', () => {
    const again = runCliProcess(['dataset', 'synth', '--out', out])
    assert.equal(again.code, 2)
    assert.match(again.stderr, /exists and is not empty/)
    const format = runCliProcess(['dataset', 'synth', '--out', join(root, 'x'), '--format', 'xml'])
    assert.equal(format.code, 2)
    assert.match(format.stderr, /--format: expected csv or parquet/)
    const counts = runCliProcess(['dataset', 'synth', '--out', join(root, 'y'), '--features', '5'])
    assert.equal(counts.code, 2)
    assert.match(counts.stderr, /realistic features \(145\) cannot exceed features \(5\)/)
    const info = runCliProcess(['dataset', 'info', root])
    assert.equal(info.code, 2)
    assert.match(info.stderr, /dataset\.toml: not found/)
  })

  it('documents the full-scale flags in --help', () => {
    const r = runCliProcess(['dataset', 'synth', '--help'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /--episodes <n>\s+episodes PER HOST/)
    assert.match(r.stdout, /--windows 582/)
  })
})
