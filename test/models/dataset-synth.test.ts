import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { DatasetError, isSynthesizedDataset, loadDataset, synthesizeDataset } from '../../models/dataset/index.ts'
import type { Dataset } from '../../models/types.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'

const filesOf = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f))]),
  )

/** Mean over features of a per-feature statistic. */
const meanOver = (js: number[], f: (j: number) => number) => js.reduce((s, j) => s + f(j), 0) / js.length

describe('synthesizeDataset', () => {
  const root = mkdtempSync(join(tmpdir(), 'cis490-synth-'))
  after(() => rmSync(root, { recursive: true, force: true }))
  let data: Dataset

  before(async () => {
    await makeSyntheticDataset(join(root, 'big'), { episodes: 60, windows: 12, features: 30, realisticFeatures: 18 })
    data = await loadDataset(join(root, 'big'), 'oracle')
  })

  it('is deterministic in the seed, byte for byte', async () => {
    await makeSyntheticDataset(join(root, 'a'), { seed: 7 })
    await makeSyntheticDataset(join(root, 'b'), { seed: 7 })
    await makeSyntheticDataset(join(root, 'c'), { seed: 8 })
    assert.deepEqual(filesOf(join(root, 'a')), filesOf(join(root, 'b')))
    assert.notDeepEqual(filesOf(join(root, 'a'))['k-gamingcom.csv'], filesOf(join(root, 'c'))['k-gamingcom.csv'])
  })

  it('writes one file per host and a dataset.toml whose realistic mode drops oracle_*', async () => {
    const s = await synthesizeDataset(join(root, 'layout'), {
      hosts: ['h1', 'h2', 'h3'],
      episodes: 4,
      windows: 3,
      features: 9,
      realisticFeatures: 5,
      classes: 4,
      format: 'parquet',
    })
    assert.deepEqual(readdirSync(join(root, 'layout')).sort(), [
      'dataset.toml',
      'h1.parquet',
      'h2.parquet',
      'h3.parquet',
    ])
    assert.equal(s.rows, 3 * 4 * 3)
    const real = await loadDataset(join(root, 'layout'), 'realistic')
    const all = await loadDataset(join(root, 'layout'), 'oracle')
    assert.equal(real.features.length, 5)
    assert.ok(real.features.every((f) => !f.startsWith('oracle_')))
    assert.deepEqual(
      all.features.filter((f) => f.startsWith('oracle_')),
      ['oracle_000', 'oracle_001', 'oracle_002', 'oracle_003'],
    )
    assert.equal(all.rows, 36)
    assert.equal(all.episodes.length, 12)
    assert.ok(all.classes.length <= 4)
  })

  it('refuses an --out directory that is not empty, and bad options', async () => {
    await assert.rejects(makeSyntheticDataset(join(root, 'a')), /exists and is not empty/)
    await assert.rejects(makeSyntheticDataset(join(root, 'x1'), { realisticFeatures: 99 }), RangeError)
    await assert.rejects(makeSyntheticDataset(join(root, 'x2'), { hosts: ['a/b'] }), /host "a\/b"/)
  })

  it('never replaces a file or a foreign directory; with replace, only a dataset it wrote', async () => {
    const tiny = { episodes: 2, windows: 2, features: 4, realisticFeatures: 3 }
    const file = join(root, 'notes.txt')
    writeFileSync(file, 'precious')
    for (const replace of [false, true]) {
      await assert.rejects(
        synthesizeDataset(file, tiny, { replace }),
        (err: unknown) => err instanceof DatasetError && /notes\.txt: exists and is a file; refusing/.test(err.message),
      )
      await assert.rejects(synthesizeDataset(join(file, 'sub'), tiny, { replace }), /a part of the path is a file/)
    }
    assert.equal(readFileSync(file, 'utf8'), 'precious')
    const foreign = join(root, 'foreign')
    mkdirSync(foreign)
    writeFileSync(join(foreign, 'dataset.toml'), 'name = "mine"\n')
    writeFileSync(join(foreign, 'a.csv'), 'host\n')
    assert.equal(isSynthesizedDataset(foreign), false)
    await assert.rejects(
      synthesizeDataset(foreign, tiny, { replace: true }),
      /not a dataset written by `dataset synth`/,
    )
    assert.deepEqual(readdirSync(foreign).sort(), ['a.csv', 'dataset.toml'])
    const ours = join(root, 'ours')
    await synthesizeDataset(ours, { ...tiny, seed: 1 })
    assert.equal(isSynthesizedDataset(ours), true)
    await assert.rejects(synthesizeDataset(ours, { ...tiny, seed: 2 }), /exists and is not empty/)
    await synthesizeDataset(ours, { ...tiny, seed: 2, hosts: ['only'] }, { replace: true })
    assert.deepEqual(readdirSync(ours).sort(), ['dataset.toml', 'only.csv'])
    assert.match(readFileSync(join(ours, 'dataset.toml'), 'utf8'), /seed 2\./)
    mkdirSync(join(ours, 'sub'))
    assert.equal(isSynthesizedDataset(ours), false)
    assert.deepEqual(
      readdirSync(root).filter((f) => f.includes('.tmp-')),
      [],
    )
  })

  it('gives each episode one label', () => {
    for (let r = 1; r < data.rows; r++) {
      if (data.episodeOf[r] === data.episodeOf[r - 1]) assert.equal(data.y[r], data.y[r - 1])
    }
  })

  it('leaves about 2% of cells missing, all in every 5th feature', () => {
    const f = data.features.length
    let missing = 0
    for (let i = 0; i < data.X.length; i++) {
      if (Number.isNaN(data.X[i])) {
        missing++
        assert.equal((i % f) % 5, 4, `missing value in feature ${i % f}`)
      }
    }
    const frac = missing / data.X.length
    assert.ok(frac > 0.01 && frac < 0.03, `missing fraction ${frac}`)
  })

  // Per feature, within one host: column values without NaN.
  const column = (j: number, host: number) => {
    const f = data.features.length
    const rows: number[] = []
    for (let r = 0; r < data.rows; r++) if (data.hostOf[r] === host && !Number.isNaN(data.X[r * f + j])) rows.push(r)
    return rows
  }
  const fisher = (j: number, host: number) => {
    // between-class variance of class means / mean within-class variance
    const f = data.features.length
    const C = data.classes.length
    const sum = new Float64Array(C)
    const sq = new Float64Array(C)
    const cnt = new Float64Array(C)
    for (const r of column(j, host)) {
      const v = data.X[r * f + j]
      sum[data.y[r]] += v
      sq[data.y[r]] += v * v
      cnt[data.y[r]]++
    }
    const means = [...sum].map((s, c) => s / cnt[c])
    const within = [...sq].reduce((acc, s, c) => acc + (s / cnt[c] - means[c] ** 2), 0) / C
    const grand = means.reduce((a, b) => a + b, 0) / C
    const between = means.reduce((acc, m) => acc + (m - grand) ** 2, 0) / C
    return between / within
  }

  it('puts more class signal in oracle features than in realistic ones', () => {
    const oracle = data.features.map((n, j) => (n.startsWith('oracle_') ? j : -1)).filter((j) => j >= 0)
    const realistic = data.features.map((n, j) => (n.startsWith('oracle_') ? -1 : j)).filter((j) => j >= 0)
    const o = meanOver(oracle, (j) => fisher(j, 0))
    const r = meanOver(realistic, (j) => fisher(j, 0))
    assert.ok(o > 2 * r && r > 0.01, `oracle ${o} vs realistic ${r}`)
  })

  it('correlates windows within an episode (lag-1 autocorrelation)', () => {
    const f = data.features.length
    let num = 0
    let den = 0
    for (let j = 0; j < f; j++) {
      if (j % 5 === 4) continue
      // deviations from the episode mean
      let start = 0
      while (start < data.rows) {
        let end = start
        while (end < data.rows && data.episodeOf[end] === data.episodeOf[start]) end++
        let m = 0
        for (let r = start; r < end; r++) m += data.X[r * f + j]
        m /= end - start
        for (let r = start + 1; r < end; r++) num += (data.X[r * f + j] - m) * (data.X[(r - 1) * f + j] - m)
        for (let r = start; r < end; r++) den += (data.X[r * f + j] - m) ** 2
        start = end
      }
    }
    const rho = num / den
    assert.ok(rho > 0.3, `lag-1 autocorrelation ${rho}`)
  })

  it('shifts and rescales features per host, and makes the later host noisier', () => {
    const f = data.features.length
    const stats = (j: number, h: number) => {
      const rows = column(j, h)
      const m = rows.reduce((s, r) => s + data.X[r * f + j], 0) / rows.length
      const v = rows.reduce((s, r) => s + (data.X[r * f + j] - m) ** 2, 0) / rows.length
      return { m, sd: Math.sqrt(v) }
    }
    const js = data.features.map((_, j) => j)
    const shift = meanOver(js, (j) => {
      const a = stats(j, 0)
      const b = stats(j, 1)
      return Math.abs(a.m - b.m) / ((a.sd + b.sd) / 2)
    })
    assert.ok(shift > 0.2, `mean host shift ${shift} sd`)
    // host 1 is noisier: its classes separate less.
    const oracle = js.filter((j) => data.features[j].startsWith('oracle_'))
    const f0 = meanOver(oracle, (j) => fisher(j, 0))
    const f1 = meanOver(oracle, (j) => fisher(j, 1))
    assert.ok(f0 > f1, `fisher host0 ${f0} vs host1 ${f1}`)
  })
})
