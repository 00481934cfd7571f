import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { CommanderError } from 'commander'
import { EXIT, RunError, reportError, UsageError } from '../../cli/errors.ts'
import { ManifestError } from '../../manifests/index.ts'
import { DatasetError, OutputExistsError, OutputPathError, TrainInputError } from '../../models/index.ts'
import { KeyFileError } from '../../node/index.ts'

function report(err: unknown, env: NodeJS.ProcessEnv = {}) {
  let text = ''
  const code = reportError(err, { write: (t: string) => (text += t) }, env)
  return { code, text }
}

describe('cli reportError (the top-level handler)', () => {
  it('prints input errors of every folder as one `error:` line and exits 2', () => {
    for (const err of [
      new UsageError('--out x: bad'),
      new ManifestError('m.toml', 'jobs[0].model', 'bad'),
      new DatasetError({ file: 'd' }, 'bad'),
      new KeyFileError('k.key', 'bad'),
      new OutputExistsError('o exists'),
      new OutputPathError('--out', 'o', 'bad'),
      new TrainInputError('--backend "x": bad'),
    ]) {
      const r = report(err)
      assert.equal(r.code, EXIT.usage, err.name)
      assert.equal(r.text, `error: ${err.message}\n`, err.name)
    }
  })

  it('prints run-time failures and system errors without a stack and exits 1', () => {
    assert.deepEqual(report(new RunError('training failed: boom')), { code: 1, text: 'error: training failed: boom\n' })
    let sys: unknown
    try {
      readFileSync('/nonexistent/cis490')
    } catch (err) {
      sys = err
    }
    const r = report(sys)
    assert.equal(r.code, EXIT.failed)
    assert.match(r.text, /^error: ENOENT: no such file or directory, open '\/nonexistent\/cis490'\n$/)
  })

  it('reports a bug as one `internal error:` line, the stack only with CIS490_DEBUG', () => {
    const bug = new TypeError('x.get is not a function\nsecond line')
    const quiet = report(bug)
    assert.equal(quiet.code, EXIT.failed)
    assert.equal(quiet.text, 'internal error: x.get is not a function (set CIS490_DEBUG=1 for the stack trace)\n')
    assert.doesNotMatch(quiet.text, /^\s+at /m)
    for (const off of ['', '0', 'false']) assert.doesNotMatch(report(bug, { CIS490_DEBUG: off }).text, /^\s+at /m)
    const loud = report(new RunError('wrapped', { cause: bug }), { CIS490_DEBUG: '1' })
    assert.match(loud.text, /^error: wrapped\nRunError: wrapped\n\s+at /)
    assert.match(loud.text, /caused by:\nTypeError: x\.get is not a function/)
    assert.match(report(bug, { CIS490_DEBUG: '1' }).text, /^internal error: .*\nTypeError: x\.get.*\n(.*\n)*\s+at /)
    assert.match(report('a string thrown').text, /^internal error: a string thrown \(set CIS490_DEBUG/)
  })

  it('leaves commander errors to commander: help and version exit 0, usage exits 2', () => {
    assert.deepEqual(report(new CommanderError(0, 'commander.helpDisplayed', '')), { code: 0, text: '' })
    assert.deepEqual(report(new CommanderError(1, 'commander.unknownOption', 'x')), { code: 2, text: '' })
  })
})
