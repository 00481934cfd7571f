import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { jobId, loadManifest, ManifestError, parseManifest } from '../../manifests/index.ts'

const FLEET = '[fleet]\nname = "lab"\ndataset = "d"\n'
const OP = '12D3KooWFxdFq1uaRitC5f9A9vpBWXgDie9qtTPxAANnNPikujvo'

function errorOf(text: string): string {
  try {
    parseManifest(text, 'm.toml')
  } catch (err) {
    assert.ok(err instanceof ManifestError, String(err))
    return err.message
  }
  assert.fail('expected a ManifestError')
}

describe('manifest loading', () => {
  it('loads the example fleet: 16 jobs, eight models in two modes', () => {
    const m = loadManifest(fileURLToPath(new URL('../../manifests/example.toml', import.meta.url)))
    assert.equal(m.jobs.length, 16)
    assert.equal(new Set(m.jobs.map((j) => `${j.model}/${j.mode}`)).size, 16)
    const prio = Object.fromEntries(m.jobs.map((j) => [j.model, j.priority]))
    assert.deepEqual([prio.gbt, prio.knn, prio.knn_semi, prio.mlp], [100, 95, 85, 80])
    for (const seq of ['cnn', 'gru', 'lstm', 'transformer']) assert.ok(prio[seq] < 80)
    assert.deepEqual(m.hosts.get('elliott-thinkpad')?.allow_jobs, ['gbt', 'knn', 'knn_semi', 'mlp'])
  })

  it('keeps host policies in a Map: a host named like an Object property is an ordinary key', () => {
    const m = parseManifest(
      `${FLEET}[hosts.constructor]\nmax_concurrent = 2\n[hosts.toString]\ndeny_jobs = ["gbt"]\n`,
      'h.toml',
    )
    assert.ok(m.hosts instanceof Map)
    assert.equal(m.hosts.get('constructor')?.max_concurrent, 2)
    assert.deepEqual(m.hosts.get('toString')?.deny_jobs, ['gbt'])
    assert.equal(m.hosts.get('hasOwnProperty'), undefined)
    assert.equal(m.hosts.size, 2)
  })

  it('fills defaults and computes ids from the identity as written', () => {
    const m = parseManifest(
      `${FLEET}operator_keys = ["${OP}"]\n[[jobs]]\nmodel = "gbt"\nmode = "oracle"\nhyper = { max_depth = 4 }\n`,
      'm.toml',
    )
    const j = m.jobs[0]
    assert.equal(j.priority, 0)
    assert.equal(j.max_attempts, 3)
    assert.deepEqual(j.hyper, { max_depth: 4 }) // no defaults in the id's hyper
    assert.equal(j.id, jobId({ model: 'gbt', mode: 'oracle', hyper: { max_depth: 4 } }))
    assert.equal(m.fleet.lease_s, 30)
    assert.deepEqual(m.fleet.operator_keys, [OP])
  })

  it('ids ignore constraints and priority but not seed or split', () => {
    const job = (extra: string) =>
      parseManifest(`${FLEET}[[jobs]]\nmodel = "knn"\nmode = "realistic"\n${extra}`, 'm.toml').jobs[0].id
    const plain = job('')
    assert.equal(job('priority = 7\nmax_attempts = 1\nrequire_cuda = true\n'), plain)
    assert.notEqual(job('seed = 1\n'), plain)
    assert.notEqual(job('split = { test_hosts = ["a"] }\n'), plain)
  })

  const cases: [string, string, RegExp][] = [
    [
      'a bad hyper value',
      '[[jobs]]\nmodel = "knn"\nmode = "m"\nhyper = { k = "ten" }\n',
      /^m\.toml: jobs\[0\]\.hyper\.k: expected a positive integer, got "ten"$/,
    ],
    [
      'an unknown hyper key',
      '[[jobs]]\nmodel = "knn"\nmode = "m"\nhyper = { kk = 3 }\n',
      /jobs\[0\]\.hyper\.kk: unknown key "kk"/,
    ],
    [
      'an unknown model',
      '[[jobs]]\nmodel = "svm"\nmode = "m"\n',
      /jobs\[0\]\.model: expected one of gbt, knn, .*, got "svm"/,
    ],
    ['an unknown job key', '[[jobs]]\nmodel = "knn"\nmode = "m"\npriorty = 3\n', /jobs\[0\]\.priorty: unknown key/],
    ['a missing mode', '[[jobs]]\nmodel = "knn"\n', /jobs\[0\]\.mode: expected a feature mode name, got nothing/],
    [
      'a bad val_frac',
      '[[jobs]]\nmodel = "knn"\nmode = "m"\nsplit = { val_frac = 1.5 }\n',
      /jobs\[0\]\.split\.val_frac: expected a number in \[0, 1\), got 1\.5/,
    ],
    [
      'a negative max_attempts',
      '[[jobs]]\nmodel = "knn"\nmode = "m"\nmax_attempts = 0\n',
      /jobs\[0\]\.max_attempts: expected a positive integer, got 0/,
    ],
    [
      'a bad host policy',
      '[hosts.box]\nallow_jobs = ["gbt", "nope"]\n',
      /hosts\.box\.allow_jobs\[1\]: expected one of/,
    ],
    [
      'a duplicate job',
      '[[jobs]]\nmodel = "knn"\nmode = "m"\n[[jobs]]\nmodel = "knn"\nmode = "m"\npriority = 2\n',
      /jobs\[1\]: duplicate of jobs\[0\]/,
    ],
  ]
  for (const [what, body, expected] of cases) {
    it(`names the path for ${what}`, () => {
      assert.match(errorOf(FLEET + body), expected)
    })
  }

  it('names the path for bad fleet tables and operator keys', () => {
    assert.match(errorOf('[fleet]\nname = "x"\n'), /fleet\.dataset: expected a dataset path or CID, got nothing/)
    assert.match(
      errorOf(`${FLEET}operator_keys = ["not-a-key"]\n`),
      /fleet\.operator_keys\[0\]: expected the Ed25519 public key text/,
    )
    assert.match(errorOf('[[jobs]]\nmodel = "knn"\nmode = "m"\n'), /^m\.toml: fleet: /)
  })

  it('reports TOML syntax errors with line and column', () => {
    assert.match(errorOf('[fleet\nname = 1'), /^m\.toml: invalid TOML at line 1, column \d+/)
  })

  it('names an unreadable file', () => {
    assert.throws(() => loadManifest('/nonexistent/m.toml'), /\/nonexistent\/m\.toml: cannot read manifest: ENOENT/)
  })
})
