import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { parquetWriteFile } from 'hyparquet-writer'
import { DatasetError, loadDataset, schemaHash } from '../../models/dataset/index.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'

const TOML = `name = "t"
[modes.all]
[modes.cpu]
include = ["cpu_*"]
[modes.nocpu]
exclude = ["cpu_*"]
`

describe('loadDataset', () => {
  const root = mkdtempSync(join(tmpdir(), 'cis490-dsload-'))
  after(() => rmSync(root, { recursive: true, force: true }))
  let n = 0
  /** A dataset directory with the given files (name -> text) and dataset.toml. */
  const dataset = (files: Record<string, string>, toml = TOML): string => {
    const dir = join(root, `d${n++}`)
    mkdirSync(dir)
    writeFileSync(join(dir, 'dataset.toml'), toml)
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
    return dir
  }
  const rejects = async (dir: string, mode: string, pattern: RegExp, where: Partial<DatasetError>) => {
    await assert.rejects(loadDataset(dir, mode), (err: unknown) => {
      assert.ok(err instanceof DatasetError, String(err))
      assert.match(err.message, pattern)
      for (const [k, v] of Object.entries(where))
        assert.equal(err[k as keyof DatasetError], v, `${k} in ${err.message}`)
      return true
    })
  }

  it('orders rows by (host, episode, window) across files, with X, labels and ids following', async () => {
    const dir = dataset({
      'b.csv': 'host,episode,window,label,cpu_a,mem_b\nh2,e1,1,y,21,1\nh1,e2,0,x,120,2\nh1,e1,1,x,11,3\n',
      'a.csv': 'host,episode,window,label,cpu_a,mem_b\nh2,e1,0,y,20,4\nh1,e1,0,z,10,5\nh1,e2,1,x,121,6\n',
    })
    const d = await loadDataset(dir, 'all')
    assert.equal(d.rows, 6)
    assert.deepEqual(d.hosts, ['h1', 'h2'])
    assert.deepEqual(d.episodes, ['e1', 'e2'])
    assert.deepEqual(d.classes, ['x', 'y', 'z'])
    assert.deepEqual([...d.hostOf], [0, 0, 0, 0, 1, 1])
    assert.deepEqual([...d.episodeOf], [0, 0, 1, 1, 0, 0])
    assert.deepEqual([...d.window], [0, 1, 0, 1, 0, 1])
    assert.deepEqual([...d.X], [10, 5, 11, 3, 120, 2, 121, 6, 20, 4, 21, 1])
    assert.deepEqual([...d.y], [2, 0, 0, 0, 1, 1])
    assert.equal(d.name, 't')
    assert.equal(d.mode, 'all')
  })

  it('applies include/exclude globs keeping the file column order', async () => {
    const files = { 'a.csv': 'host,mem_1,episode,cpu_2,window,label,cpu_1\nh,1,e,2,0,x,3\n' }
    const dir = dataset(files, 'name = "t"\n[modes.m]\ninclude = ["cpu_?", "mem_*"]\nexclude = ["*_2"]\n')
    const d = await loadDataset(dir, 'm')
    assert.deepEqual(d.features, ['mem_1', 'cpu_1'])
    assert.deepEqual([...d.X], [1, 3])
    const cpu = await loadDataset(dataset(files), 'cpu')
    assert.deepEqual(cpu.features, ['cpu_2', 'cpu_1'])
    const nocpu = await loadDataset(dataset(files), 'nocpu')
    assert.deepEqual(nocpu.features, ['mem_1'])
  })

  it('reads empty, NaN and ? as missing; quotes, CRLF and a BOM are fine', async () => {
    const dir = dataset({
      'a.csv':
        '\uFEFFhost,episode,window,label,cpu_a,cpu_b\r\n"h,1","e ""q""",0,x,,NaN\r\n"h,1",e2,3,x,?,-1.5e2\r\n\r\n',
    })
    const d = await loadDataset(dir, 'all')
    assert.deepEqual(d.hosts, ['h,1'])
    assert.deepEqual(d.episodes, ['e "q"', 'e2'])
    assert.ok(Number.isNaN(d.X[0]) && Number.isNaN(d.X[1]) && Number.isNaN(d.X[2]))
    assert.equal(d.X[3], -150)
    assert.deepEqual([...d.window], [0, 3])
  })

  it('computes the schema hash of [features, classes] (vectors from Python hashlib)', async () => {
    // json.dumps([f, c], separators=(',', ':'), ensure_ascii=False), sha256 hex
    assert.equal(
      schemaHash(['cpu_000', 'mem_000'], ['idle', 'video']),
      '780562317678dccafbf4444277cfccab92c895d707eb669976613813191a7aa3',
    )
    assert.equal(
      schemaHash(['temp_°C', 'f "q"'], ['a', 'b']),
      'd338a0105f5d5285d67aa6211bdebe394adcb434e9c5501e39f19758f8f5a449',
    )
    const dir = dataset({ 'a.csv': 'host,episode,window,label,cpu_000,mem_000\nh,e,0,video,1,2\nh,e,1,idle,1,2\n' })
    const d = await loadDataset(dir, 'all')
    assert.equal(d.schemaHash, '780562317678dccafbf4444277cfccab92c895d707eb669976613813191a7aa3')
  })

  it('names the file and column of a missing required column', async () => {
    const dir = dataset({ 'a.csv': 'host,episode,label,cpu_a\nh,e,x,1\n' })
    await rejects(dir, 'all', /a\.csv: column "window": missing required column/, { column: 'window' })
  })

  it('names the file, row, line and column of a non-numeric feature', async () => {
    const dir = dataset({ 'a.csv': 'host,episode,window,label,cpu_a,cpu_b\nh,e,0,x,1,2\nh,e,1,x,1,abc\n' })
    await rejects(dir, 'all', /a\.csv row 2 \(line 3\), column "cpu_b": "abc" is not a number/, {
      row: 2,
      column: 'cpu_b',
    })
  })

  it('does not parse features outside the mode', async () => {
    const dir = dataset({ 'a.csv': 'host,episode,window,label,cpu_a,mem_b\nh,e,0,x,1,oops\n' })
    const d = await loadDataset(dir, 'cpu')
    assert.deepEqual([...d.X], [1])
  })

  it('names the known modes for an unknown mode', async () => {
    const dir = dataset({ 'a.csv': 'host,episode,window,label,cpu_a\nh,e,0,x,1\n' })
    await rejects(dir, 'nope', /dataset\.toml: unknown mode "nope"; known modes: all, cpu, nocpu/, {})
  })

  it('refuses a directory without data files, and a missing dataset.toml', async () => {
    const dir = dataset({ 'notes.txt': 'hello' })
    await rejects(dir, 'all', /no data files: expected one or more \*\.csv or \*\.parquet/, { file: dir })
    await rejects(
      dataset({ 'a.csv': 'host,episode,window,label,cpu_a\n', '.partial.csv': 'x\n' }),
      'all',
      /no data rows: the data files hold only their headers/,
      {},
    )
    const bare = join(root, 'bare')
    mkdirSync(bare)
    await rejects(bare, 'all', /dataset\.toml: not found/, {})
  })

  it('refuses files that disagree on the feature columns', async () => {
    const dir = dataset({
      'a.csv': 'host,episode,window,label,cpu_a,cpu_b\nh,e,0,x,1,2\n',
      'b.csv': 'host,episode,window,label,cpu_b,cpu_a\nh,f,0,x,1,2\n',
    })
    await rejects(dir, 'all', /b\.csv: column "cpu_b": is feature 1 here but .*a\.csv has "cpu_a"/, {})
  })

  it('refuses bad rows: field count, window, empty host, duplicates', async () => {
    const head = 'host,episode,window,label,cpu_a\n'
    await rejects(dataset({ 'a.csv': `${head}h,e,0,x\n` }), 'all', /a\.csv row 1 \(line 2\): expected 5 fields/, {})
    await rejects(dataset({ 'a.csv': `${head}h,e,1.5,x,1\n` }), 'all', /column "window": "1\.5" is not an integer/, {})
    await rejects(dataset({ 'a.csv': `${head},e,0,x,1\n` }), 'all', /column "host": empty value/, {})
    await rejects(
      dataset({ 'a.csv': `${head}h,e,0,x,1\n`, 'b.csv': `${head}h,e,0,y,2\n` }),
      'all',
      /b\.csv row 1: duplicate row: host "h", episode "e", window 0 also appears in .*a\.csv row 1/,
      {},
    )
  })

  it('reads parquet like CSV and names a non-numeric parquet feature column', async () => {
    const dir = dataset({ 'a.csv': 'host,episode,window,label,cpu_a\nh,e,1,x,2.5\n' })
    parquetWriteFile({
      filename: join(dir, 'b.parquet'),
      columnData: [
        { name: 'host', data: ['h', 'h'], type: 'STRING' },
        { name: 'episode', data: ['f', 'e'], type: 'STRING' },
        { name: 'window', data: [0, 0], type: 'INT32' },
        { name: 'label', data: ['y', 'x'], type: 'STRING' },
        { name: 'cpu_a', data: [null, 7], type: 'DOUBLE' },
      ],
    })
    const d = await loadDataset(dir, 'all')
    assert.deepEqual([...d.window], [0, 1, 0])
    assert.deepEqual([...d.X].slice(0, 2), [7, 2.5])
    assert.ok(Number.isNaN(d.X[2]))
    const bad = dataset({})
    parquetWriteFile({
      filename: join(bad, 'a.parquet'),
      columnData: [
        { name: 'host', data: ['h'], type: 'STRING' },
        { name: 'episode', data: ['e'], type: 'STRING' },
        { name: 'window', data: [0], type: 'INT32' },
        { name: 'label', data: ['x'], type: 'STRING' },
        { name: 'cpu_a', data: ['high'], type: 'STRING' },
      ],
    })
    await rejects(bad, 'all', /a\.parquet: column "cpu_a": parquet type BYTE_ARRAY is not numeric/, {})
  })

  it('reads records that straddle the reader chunks (4 MB) intact', async () => {
    // ~10 MB of rows mixing quoted fields (with escapes and newlines), CRLF and LF.
    let s = 0x1234
    const rnd = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0
      return s / 2 ** 32
    }
    const rows = 160_000
    const expected = new Float32Array(rows * 3)
    const lines = ['host,episode,window,label,cpu_a,cpu_b,cpu_c\n']
    for (let i = 0; i < rows; i++) {
      const ep = `e${String(i).padStart(6, '0')}`
      const epCell = rnd() < 0.3 ? `"${ep}"` : ep
      const label = rnd() < 0.1 ? '"a ""b""\nc"' : 'plain'
      const cells: string[] = []
      for (let j = 0; j < 3; j++) {
        const v = Math.round((rnd() - 0.5) * 2e6) / 1e3
        expected[i * 3 + j] = v
        cells.push(rnd() < 0.2 ? `"${v}"` : String(v))
      }
      lines.push(`host-with-a-long-name,${epCell},0,${label},${cells.join(',')}`)
      lines.push(rnd() < 0.5 ? '\r\n' : '\n')
    }
    const dir = dataset({ 'a.csv': lines.join('') })
    const d = await loadDataset(dir, 'all')
    assert.equal(d.rows, rows)
    assert.deepEqual(d.classes, ['a "b"\nc', 'plain'])
    assert.deepEqual(d.X, expected)
  })

  it('gives the same Dataset from the synthetic CSV and parquet files', async () => {
    const opts = { episodes: 7, windows: 5, features: 12, realisticFeatures: 7, seed: 3 }
    await makeSyntheticDataset(join(root, 'syn-csv'), { ...opts, format: 'csv' })
    await makeSyntheticDataset(join(root, 'syn-pq'), { ...opts, format: 'parquet' })
    for (const mode of ['realistic', 'oracle']) {
      const a = await loadDataset(join(root, 'syn-csv'), mode)
      const b = await loadDataset(join(root, 'syn-pq'), mode)
      assert.deepStrictEqual(a, b)
      assert.equal(a.rows, 2 * 7 * 5)
      assert.equal(a.features.length, mode === 'oracle' ? 12 : 7)
    }
  })
})
