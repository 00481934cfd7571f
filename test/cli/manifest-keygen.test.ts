import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { keySigner } from '../../crdt/index.ts'
import { parseManifest } from '../../manifests/index.ts'
import { loadPrivateKey } from '../../node/index.ts'
import { runCliProcess } from '../helpers/cli.ts'

const EXAMPLE = fileURLToPath(new URL('../../manifests/example.toml', import.meta.url))

describe('cis490-node manifest check / keygen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cis490-cli-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('lists one row a job with short ids', () => {
    const r = runCliProcess(['manifest', 'check', EXAMPLE])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.match(lines[0], /^ID\s+MODEL\s+MODE\s+PRIORITY\s+CONSTRAINTS$/)
    assert.equal(lines.length, 1 + 16 + 1)
    assert.match(lines[1], /^[0-9a-f]{12}\s+gbt\s+realistic\s+100\s+ram>=4G$/)
  })

  it('prints full ids and fields with --json', () => {
    const r = runCliProcess(['manifest', 'check', EXAMPLE, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const rows = JSON.parse(r.stdout) as { id: string; model: string; mode: string; priority: number }[]
    assert.equal(rows.length, 16)
    assert.ok(rows.every((row) => /^[0-9a-f]{64}$/.test(row.id) && typeof row.priority === 'number'))
    assert.deepEqual(
      rows.map((row) => row.id),
      parseManifest(readFileSync(EXAMPLE, 'utf8'), EXAMPLE).jobs.map((j) => j.id),
    )
  })

  it('exits 2 naming the file and path on a bad manifest', () => {
    const bad = join(dir, 'bad.toml')
    writeFileSync(
      bad,
      '[fleet]\nname = "x"\ndataset = "d"\n[[jobs]]\nmodel = "knn"\nmode = "m"\nhyper = { k = "ten" }\n',
    )
    const r = runCliProcess(['manifest', 'check', bad])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /bad\.toml: jobs\[0\]\.hyper\.k: expected a positive integer, got "ten"/)
  })

  it('exits 2 on bad usage', () => {
    assert.equal(runCliProcess(['manifest', 'check']).code, 2)
    assert.equal(runCliProcess(['no-such-command']).code, 2)
    assert.equal(runCliProcess(['keygen']).code, 2)
  })

  it('keygen writes a 0600 operator key and prints its public key text last', () => {
    const out = join(dir, 'op.key')
    const r = runCliProcess(['keygen', '--out', out])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(statSync(out).mode & 0o777, 0o600)
    const publicText = r.stdout.trim().split('\n').at(-1)
    assert.equal(publicText, keySigner(loadPrivateKey(out)).id)
    // The text is accepted in operator_keys.
    const m = parseManifest(`[fleet]\nname = "f"\ndataset = "d"\noperator_keys = ["${publicText}"]\n`, 'm.toml')
    assert.deepEqual(m.fleet.operator_keys, [publicText])
    // And it refuses to overwrite a key.
    const again = runCliProcess(['keygen', '--out', out])
    assert.equal(again.code, 2)
    assert.match(again.stderr, /exists; refusing to overwrite/)
  })

  it('keygen --swarm writes a standard psk swarm key', () => {
    const out = join(dir, 'swarm.key')
    const r = runCliProcess(['keygen', '--swarm', '--out', out])
    assert.equal(r.code, 0, r.stderr)
    assert.match(readFileSync(out, 'utf8'), /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    assert.equal(statSync(out).mode & 0o777, 0o600)
  })

  it('every command has --help', () => {
    for (const args of [['--help'], ['manifest', 'check', '--help'], ['keygen', '--help']]) {
      const r = runCliProcess(args)
      assert.equal(r.code, 0, args.join(' '))
      assert.match(r.stdout, /Usage: cis490-node/)
    }
  })
})
