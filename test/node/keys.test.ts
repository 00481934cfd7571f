import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import {
  generateKey,
  generateSwarmKey,
  KeyFileError,
  loadPrivateKey,
  loadSwarmKey,
  publicKeyText,
  savePrivateKey,
  writeFileAtomic,
  writeFileAtomicAsync,
} from '../../node/index.ts'

const isRoot = process.getuid?.() === 0

describe('node/keys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cis490-keys-'))
  after(() => {
    chmodSync(dir, 0o700)
    rmSync(dir, { recursive: true, force: true })
  })
  let n = 0
  const fresh = () => {
    const d = join(dir, `case-${n++}`)
    mkdirSync(d)
    return d
  }

  it('saves and loads an operator key (0600)', async () => {
    const d = fresh()
    const key = await generateKey()
    savePrivateKey(join(d, 'op.key'), key)
    assert.equal(statSync(join(d, 'op.key')).mode & 0o777, 0o600)
    assert.equal(publicKeyText(loadPrivateKey(join(d, 'op.key'))), publicKeyText(key))
    assert.deepEqual(readdirSync(d), ['op.key'])
  })

  it('names the file when a private key is missing, a directory or garbage', () => {
    const d = fresh()
    writeFileSync(join(d, 'junk'), 'not a key')
    for (const [file, re] of [
      [join(d, 'missing'), /missing: cannot read key: no such file/],
      [d, /is a directory/],
      [join(d, 'junk'), /junk: not a key written by `cis490-node keygen`/],
    ] as const) {
      assert.throws(
        () => loadPrivateKey(file),
        (err: unknown) => err instanceof KeyFileError && err.file === file && re.test(err.message),
      )
    }
  })

  it('round-trips a generated swarm key and returns the file bytes', () => {
    const d = fresh()
    const text = generateSwarmKey()
    writeFileSync(join(d, 'swarm.key'), text)
    assert.deepEqual(Buffer.from(loadSwarmKey(join(d, 'swarm.key'))), Buffer.from(text))
    writeFileSync(join(d, 'crlf.key'), text.replaceAll('\n', '\r\n'))
    assert.equal(loadSwarmKey(join(d, 'crlf.key')).length, text.length + 3)
  })

  it('refuses malformed swarm keys naming the file and the line', () => {
    const d = fresh()
    const hex = 'ab'.repeat(32)
    const cases: [string, RegExp][] = [
      ['', /line 1: not a swarm key/],
      [`/key/swarm/psk/2.0.0/\n/base16/\n${hex}\n`, /line 1: not a swarm key/],
      ['/key/swarm/psk/1.0.0/\n', /line 2: expected "\/base16\/", got the end of the file/],
      [`/key/swarm/psk/1.0.0/\n/base64/\n${hex}\n`, /line 2: expected "\/base16\/", got "\/base64\/"/],
      ['/key/swarm/psk/1.0.0/\n/base16/\n', /line 3: expected 64 hex digits, got the end/],
      ['/key/swarm/psk/1.0.0/\n/base16/\nabcd\n', /line 3: .*got 4 digits/],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${hex.toUpperCase()}\n`, /line 3: .*upper-case/],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${'zz'.repeat(32)}\n`, /line 3: .*got "zzzz/],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${hex}\nmore\n`, /line 4: unexpected text/],
    ]
    for (const [i, [text, re]] of cases.entries()) {
      const file = join(d, `bad-${i}.key`)
      writeFileSync(file, text)
      assert.throws(
        () => loadSwarmKey(file),
        (err: unknown) => err instanceof KeyFileError && err.message.startsWith(`${file}: `) && re.test(err.message),
        `case ${i}: ${JSON.stringify(text)}`,
      )
    }
    assert.throws(() => loadSwarmKey(join(d, 'nope.key')), /nope\.key: cannot read swarm key: no such file/)
  })

  it('writeFileAtomic replaces a file and leaves no temp file', () => {
    const d = fresh()
    writeFileAtomic(join(d, 'f'), 'one')
    writeFileAtomic(join(d, 'f'), new Uint8Array([50]), 0o600)
    assert.equal(readFileSync(join(d, 'f'), 'utf8'), '2')
    assert.deepEqual(readdirSync(d), ['f'])
  })

  it('writeFileAtomic removes its temp file when the rename fails (a directory at the target)', () => {
    const d = fresh()
    mkdirSync(join(d, 'target'))
    assert.throws(() => writeFileAtomic(join(d, 'target'), 'secret', 0o600), /EISDIR|ENOTEMPTY|EEXIST/)
    assert.deepEqual(readdirSync(d), ['target'])
  })

  it('writeFileAtomicAsync writes, replaces and cleans up on failure and abort', async () => {
    const d = fresh()
    await writeFileAtomicAsync(join(d, 'f'), 'one')
    await writeFileAtomicAsync(join(d, 'f'), 'two', 0o600)
    assert.equal(readFileSync(join(d, 'f'), 'utf8'), 'two')
    assert.equal(statSync(join(d, 'f')).mode & 0o777, 0o600)
    mkdirSync(join(d, 'target'))
    await assert.rejects(writeFileAtomicAsync(join(d, 'target'), 'x'), /EISDIR|ENOTEMPTY|EEXIST/)
    const ac = new AbortController()
    ac.abort()
    await assert.rejects(writeFileAtomicAsync(join(d, 'g'), 'x', 0o644, { signal: ac.signal }), { name: 'AbortError' })
    await assert.rejects(writeFileAtomicAsync(join(d, 'missing', 'f'), 'x'), { code: 'ENOENT' })
    assert.deepEqual(readdirSync(d).sort(), ['f', 'target'])
  })

  it('fails without a temp file in a read-only directory', { skip: isRoot && 'root ignores permissions' }, async () => {
    const d = fresh()
    chmodSync(d, 0o500)
    try {
      assert.throws(() => writeFileAtomic(join(d, 'f'), 'x'), { code: 'EACCES' })
      await assert.rejects(writeFileAtomicAsync(join(d, 'f'), 'x'), { code: 'EACCES' })
      assert.deepEqual(readdirSync(d), [])
    } finally {
      chmodSync(d, 0o700)
    }
  })
})
