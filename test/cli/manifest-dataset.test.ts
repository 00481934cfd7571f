import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { runCliProcess } from '../helpers/cli.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'

const FLEET = '[fleet]\nname = "t"\ndataset = "data"\n'
const job = (fields: string) => `[[jobs]]\nmodel = "knn"\n${fields}\n`

// `manifest check` with the dataset at hand checks what training would refuse.
describe('cis490-node manifest check against the dataset', () => {
  let dir: string
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cis490-manifest-data-'))
    // 2 hosts (elliott-thinkpad, k-gamingcom) x 12 episodes x 6 windows = 144 rows.
    await makeSyntheticDataset(join(dir, 'data'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const write = (name: string, text: string) => {
    const file = join(dir, name)
    writeFileSync(file, text)
    return file
  }

  it("shows each job's train/val/test rows when the manifest's dataset is here", () => {
    const file = write('good.toml', FLEET + job('mode = "realistic"\nsplit = { test_hosts = ["k-gamingcom"] }'))
    const r = runCliProcess(['manifest', 'check', file])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    const lines = r.stdout.trim().split('\n')
    assert.match(lines[0], /^ID\s+MODEL\s+MODE\s+PRIORITY\s+TRAIN\/VAL\/TEST\s+CONSTRAINTS$/)
    const m = /\s(\d+)\/(\d+)\/(\d+)\s/.exec(lines[1])
    assert.ok(m !== null, lines[1])
    const [train, val, test] = m.slice(1).map(Number)
    assert.equal(test, 72, 'the test part is every row of k-gamingcom')
    assert.equal(train + val, 72)
    assert.ok(train > 0 && val > 0)
    assert.match(lines[2], /checked against .*data: every mode, host and split is usable$/)
  })

  it('exits 2 listing every job that would fail at training: no test hosts, unknown mode or host, empty val', () => {
    const file = write(
      'bad.toml',
      FLEET +
        job('mode = "realistic"') +
        job('mode = "nope"\nsplit = { test_hosts = ["k-gamingcom"] }') +
        job('mode = "oracle"\nsplit = { test_hosts = ["no-such-host"] }') +
        job('mode = "oracle"\nsplit = { test_hosts = ["k-gamingcom"], val_frac = 0 }') +
        job('mode = "oracle"\nsplit = { test_hosts = ["k-gamingcom"] }'),
    )
    const r = runCliProcess(['manifest', 'check', file])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /^error: .*bad\.toml: 4 of 5 job\(s\) would fail at training on the dataset /)
    assert.match(r.stderr, /jobs\[0\] \(knn realistic, [0-9a-f]{12}\): empty test split: split\.test_hosts is \(none\)/)
    assert.match(
      r.stderr,
      /jobs\[1\] \(knn nope, [0-9a-f]{12}\): mode "nope" is not a mode of .*known: oracle, realistic/,
    )
    assert.match(
      r.stderr,
      /jobs\[2\] .*split\.test_hosts: host "no-such-host" has no rows \(dataset hosts: elliott-thinkpad, k-gamingcom\)/,
    )
    assert.match(r.stderr, /jobs\[3\] .*empty val split/)
    assert.doesNotMatch(r.stderr, /jobs\[4\]/)
  })

  it('says on stderr that nothing was checked when the dataset is not here, and --data names one', () => {
    const file = write('elsewhere.toml', FLEET.replace('"data"', '"not-here"') + job('mode = "realistic"'))
    const r = runCliProcess(['manifest', 'check', file])
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stderr,
      /^note: the dataset "not-here" is not at hand here: modes, hosts and splits were not checked/,
    )
    assert.doesNotMatch(r.stdout, /TRAIN\/VAL\/TEST/)
    const checked = runCliProcess(['manifest', 'check', file, '--data', join(dir, 'data'), '--json'])
    assert.equal(checked.code, 2)
    assert.match(checked.stderr, /empty test split/)
    const missing = runCliProcess(['manifest', 'check', file, '--data', join(dir, 'nope')])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /^error: --data .*nope: no such directory/)
  })

  it('--json carries split_rows, null when the dataset was not checked', () => {
    const text = FLEET + job('mode = "oracle"\nsplit = { test_hosts = ["elliott-thinkpad"] }')
    const here = JSON.parse(runCliProcess(['manifest', 'check', write('j.toml', text), '--json']).stdout)
    assert.equal(here[0].split_rows.test, 72)
    assert.equal(here[0].split_rows.train + here[0].split_rows.val, 72)
    const away = runCliProcess(['manifest', 'check', write('k.toml', text.replace('"data"', '"gone"')), '--json'])
    assert.equal(JSON.parse(away.stdout)[0].split_rows, null)
  })
})
