import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { powershellQuote, SERVICE_NAME, systemdEscapePath, windowsArg } from '../../cli/commands/install-service.ts'
import { generateSwarmKey } from '../../node/index.ts'
import { plainEnv } from '../helpers/cli.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '')
const BIN = join(ROOT, 'cli', 'bin.ts')
const NODE = join(ROOT, 'node_modules', 'node', 'bin', 'node')

/** `cis490-node ARGS` in a child, with the environment given (SUDO_USER and CIS490_* removed first). */
function cli(args: readonly string[], env: Record<string, string> = {}) {
  const base = Object.fromEntries(
    Object.entries(plainEnv()).filter(
      ([k]) => k !== 'SUDO_USER' && !k.startsWith('CIS490_') && k !== 'XGBOOST_LIBRARY',
    ),
  )
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...base, ...env }, encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

function hasBinary(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0
}

/**
 * A unit file's settings by section, each key's values in order. Comments and blank lines
 * skipped; a line that is neither a section, a comment nor `Key=value` fails the test.
 */
function unitSettings(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let current: Map<string, string[]> | null = null
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const section = /^\[([A-Za-z]+)\]$/.exec(line)
    if (section !== null) {
      current = new Map()
      sections.set(section[1], current)
      continue
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line)
    assert.ok(kv !== null && current !== null, `a setting inside a section: ${JSON.stringify(line)}`)
    current.set(kv[1], [...(current.get(kv[1]) ?? []), kv[2]])
  }
  return sections
}

/**
 * Splits a command line as systemd does for ExecStart= (extract_first_word with quotes and
 * C escapes), then undoes the `%%` and `$$` escapes; any other `%` specifier or a lone `$` fails.
 */
function systemdWords(line: string, opts: { dollar: boolean }): string[] {
  const words: string[] = []
  let i = 0
  const escapes: Record<string, string> = { '\\': '\\', '"': '"', "'": "'", n: '\n', t: '\t', s: ' ' }
  while (i < line.length) {
    while (line[i] === ' ') i++
    if (i >= line.length) break
    let word = ''
    let quote: string | null = null
    for (; i < line.length; i++) {
      const c = line[i]
      if (quote === null && c === ' ') break
      if (c === '\\') {
        const e = escapes[line[i + 1]]
        assert.ok(e !== undefined, `a known escape at ${i} of ${line}`)
        word += e
        i++
      } else if (quote === null && (c === '"' || c === "'")) quote = c
      else if (c === quote) quote = null
      else word += c
    }
    assert.equal(quote, null, `balanced quotes in ${line}`)
    assert.doesNotMatch(word.replaceAll('%%', ''), /%/, `no specifier left in ${word}`)
    word = word.replaceAll('%%', '%')
    if (opts.dollar) {
      assert.doesNotMatch(word.replaceAll('$$', ''), /\$/, `no variable reference left in ${word}`)
      word = word.replaceAll('$$', '$')
    }
    words.push(word)
  }
  return words
}

/** The argv `CommandLineToArgvW` (and the C runtime since 2008) gives a Windows command line. */
function commandLineToArgv(line: string): string[] {
  const args: string[] = []
  let i = 0
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === '\t') i++
    if (i >= line.length) break
    let arg = ''
    let quoted = false
    while (i < line.length) {
      const c = line[i]
      if (c === '\\') {
        let k = 0
        while (line[i + k] === '\\') k++
        if (line[i + k] === '"') {
          arg += '\\'.repeat(Math.floor(k / 2))
          if (k % 2 === 1) {
            arg += '"'
            i += k + 1
          } else i += k
        } else {
          arg += '\\'.repeat(k)
          i += k
        }
      } else if (c === '"') {
        if (quoted && line[i + 1] === '"') {
          arg += '"'
          i += 2
        } else {
          quoted = !quoted
          i++
        }
      } else if (!quoted && (c === ' ' || c === '\t')) break
      else {
        arg += c
        i++
      }
    }
    args.push(arg)
  }
  return args
}

/**
 * The PowerShell single-quoted literal that follows `-Name ` in `line` (quotes doubled inside,
 * the typographic single quotes too), unescaped.
 */
function psLiteral(line: string, name: string): string {
  const start = line.indexOf(`-${name} '`)
  assert.ok(start >= 0, `-${name} '...' in ${line}`)
  const quotes = new Set(["'", '\u2018', '\u2019', '\u201a', '\u201b'])
  let out = ''
  for (let i = start + name.length + 3; i < line.length; i++) {
    if (quotes.has(line[i])) {
      if (quotes.has(line[i + 1])) {
        out += line[i]
        i++
        continue
      }
      return out
    }
    out += line[i]
  }
  assert.fail(`an unterminated literal after -${name}`)
}

describe('install-service', () => {
  let tmp: string
  let key: string
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'cis490-install-service-'))
    key = join(tmp, 'keys dir', 'the "fleet" key %h $HOME.key')
    mkdirSync(join(tmp, 'keys dir'))
    writeFileSync(key, generateSwarmKey(), { mode: 0o600 })
  })
  after(() => rmSync(tmp, { recursive: true, force: true }))

  it('--print shows the systemd unit: this checkout, the data dir, the key, restarts, the user; and writes nothing', () => {
    const dataDir = join(tmp, 'data dir-1 %i')
    const before = readdirSync(tmp).sort()
    const r = cli(['install-service', '--print', '--platform', 'linux', '--data-dir', dataDir, '--swarm-key', key], {
      CIS490_NEURAL_FAST: '0',
      XGBOOST_LIBRARY: '/opt/xgb "lib"/libxgboost.so',
    })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(readdirSync(tmp).sort(), before, '--print writes nothing')
    assert.equal(existsSync(dataDir), false, 'not even the data dir')
    const unit = unitSettings(r.stdout)
    const service = unit.get('Service')!
    const [exec] = service.get('ExecStart')!
    assert.deepEqual(systemdWords(exec, { dollar: true }), [
      NODE,
      BIN,
      'start',
      '--data-dir',
      dataDir,
      '--swarm-key',
      key,
    ])
    assert.match(spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout, /^v22\./, "the checkout's Node 22")
    assert.deepEqual(service.get('Restart'), ['on-failure'])
    assert.deepEqual(service.get('RestartSec'), ['10s'])
    assert.deepEqual(service.get('KillMode'), ['mixed'])
    assert.deepEqual(service.get('WorkingDirectory'), [ROOT])
    assert.deepEqual(service.get('User'), [userInfo().username], 'a system unit runs as the invoking user')
    const env = (service.get('Environment') ?? []).flatMap((e) => systemdWords(e, { dollar: false }))
    assert.deepEqual(env.sort(), ['CIS490_NEURAL_FAST=0', 'XGBOOST_LIBRARY=/opt/xgb "lib"/libxgboost.so'])
    assert.deepEqual(unit.get('Unit')?.get('After'), ['network-online.target'])
    assert.deepEqual(unit.get('Install')?.get('WantedBy'), ['multi-user.target'])
  })

  it('--user makes a user unit (no User=, started with the user session)', () => {
    const r = cli([
      'install-service',
      '--print',
      '--user',
      '--platform',
      'linux',
      '--data-dir',
      tmp,
      '--swarm-key',
      key,
    ])
    assert.equal(r.code, 0, r.stderr)
    const unit = unitSettings(r.stdout)
    assert.equal(unit.get('Service')?.has('User'), false)
    assert.deepEqual(unit.get('Install')?.get('WantedBy'), ['default.target'])
  })

  it('under sudo, a system unit runs as the user who ran sudo, who must be able to use its files', {
    skip: userInfo().uid !== 0 && 'needs root (sudo)',
  }, () => {
    assert.ok(readFileSync('/etc/passwd', 'utf8').includes('\nnobody:'), 'Debian has the user nobody')
    const sudo = { SUDO_USER: 'nobody' }
    const shared = join(tmp, 'shared.key')
    writeFileSync(shared, generateSwarmKey(), { mode: 0o644 })
    const dataDir = join(tmp, 'nobody-data')
    const args = ['install-service', '--print', '--platform', 'linux', '--data-dir', dataDir]
    const r = cli([...args, '--swarm-key', shared], sudo)
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(unitSettings(r.stdout).get('Service')?.get('User'), ['nobody'])
    const unreadable = cli([...args, '--swarm-key', key], sudo)
    assert.equal(unreadable.code, 2)
    assert.match(unreadable.stderr, /--swarm-key .*: nobody cannot read it/)
    const rootsDir = cli(
      ['install-service', '--print', '--platform', 'linux', '--data-dir', tmp, '--swarm-key', shared],
      sudo,
    )
    assert.equal(rootsDir.code, 2)
    assert.match(rootsDir.stderr, /--data-dir .*: nobody cannot write in it/)
    const user = cli([...args, '--user', '--swarm-key', shared], sudo)
    assert.equal(user.code, 2)
    assert.match(user.stderr, /--user: run it without sudo/)
  })

  it('as a user without root, a system unit is refused (exit 2) with what to do instead', {
    skip: userInfo().uid !== 0 && 'needs root to run a child as nobody',
  }, (t) => {
    const open = mkdtempSync(join(tmpdir(), 'cis490-install-service-nobody-'))
    try {
      chmodSync(open, 0o755)
      const shared = join(open, 'k.key')
      writeFileSync(shared, generateSwarmKey(), { mode: 0o644 })
      const asNobody = (args: string[]) =>
        spawnSync(process.execPath, [BIN, ...args], {
          uid: 65534,
          gid: 65534,
          encoding: 'utf8',
          env: { PATH: process.env.PATH ?? '' },
          timeout: 60_000,
        })
      if (asNobody(['--version']).status !== 0) {
        t.diagnostic(`nobody cannot run this checkout (${ROOT} not readable by others): only root's paths were checked`)
        return
      }
      const r = asNobody([
        'install-service',
        '--platform',
        'linux',
        '--data-dir',
        join(open, 'data'),
        '--swarm-key',
        shared,
      ])
      assert.equal(r.status, 2, r.stderr)
      assert.match(
        r.stderr,
        /^error: writing \/etc\/systemd\/system\/cis490-node-.*\.service needs root: run this with sudo .* or pass --user .* or --print/,
      )
      assert.equal(existsSync(join(open, 'data')), false, 'nothing was created')
    } finally {
      rmSync(open, { recursive: true, force: true })
    }
  })

  it('--unit-dir writes the unit (named after the data dir, as systemd-escape does) without enabling it; systemd-analyze verify accepts it', (t) => {
    const dataDir = join(tmp, 'node two-b')
    const units = join(tmp, 'units')
    mkdirSync(units)
    const printed = cli([
      'install-service',
      '--print',
      '--platform',
      'linux',
      '--data-dir',
      dataDir,
      '--swarm-key',
      key,
    ])
    const r = cli([
      'install-service',
      '--platform',
      'linux',
      '--unit-dir',
      units,
      '--data-dir',
      dataDir,
      '--swarm-key',
      key,
    ])
    assert.equal(r.code, 0, r.stderr)
    const name = `${SERVICE_NAME}-${systemdEscapePath(dataDir)}.service`
    assert.deepEqual(readdirSync(units), [name])
    assert.equal(readFileSync(join(units, name), 'utf8'), printed.stdout, 'the file is what --print shows')
    assert.match(r.stdout, /not enabled/)
    assert.equal(statSync(dataDir).mode & 0o777, 0o700, 'the data dir was created, private')
    if (!hasBinary('systemd-analyze')) {
      t.diagnostic('systemd-analyze is not installed (Debian package systemd): the unit was checked as text only')
      return
    }
    const verify = spawnSync('systemd-analyze', ['verify', join(units, name)], { encoding: 'utf8' })
    assert.equal(verify.status, 0, `systemd-analyze verify: ${verify.stderr}`)
    assert.equal(verify.stderr, '', 'no warnings')
    // The check has teeth: the same unit with an unbalanced quote in ExecStart is refused.
    const broken = join(tmp, 'broken.service')
    writeFileSync(broken, readFileSync(join(units, name), 'utf8').replace(/(ExecStart=.*)"$/m, '$1'))
    assert.notEqual(spawnSync('systemd-analyze', ['verify', broken]).status, 0)
  })

  it('names units by the systemd-escape --path rules', (t) => {
    const paths = ['/home/ann/.cis490', '/srv/a b/c-d/', '//x//y.z/', '/', '/tmp/ünï/x:y_z\\w', '/.hidden/n']
    const expected: Record<string, string> = {
      '/home/ann/.cis490': 'home-ann-.cis490',
      '/srv/a b/c-d/': 'srv-a\\x20b-c\\x2dd',
      '//x//y.z/': 'x-y.z',
      '/': '-',
      '/tmp/ünï/x:y_z\\w': 'tmp-\\xc3\\xbcn\\xc3\\xaf-x:y_z\\x5cw',
      '/.hidden/n': '\\x2ehidden-n',
    }
    for (const p of paths) assert.equal(systemdEscapePath(p), expected[p], p)
    if (!hasBinary('systemd-escape')) {
      t.diagnostic('systemd-escape is not installed: compared with the expected names only')
      return
    }
    for (const p of paths) {
      const r = spawnSync('systemd-escape', ['--path', p], { encoding: 'utf8' })
      assert.equal(systemdEscapePath(p), r.stdout.trim(), `systemd-escape --path ${p}`)
    }
  })

  it('on Windows, the PowerShell registers a task at startup that restarts on failure, every path quoted', () => {
    const dataDir = join(tmp, 'it\'s a \u2019dir\u2019 with "quotes"\\')
    const r = cli(['install-service', '--print', '--platform', 'windows', '--data-dir', dataDir, '--swarm-key', key])
    assert.equal(r.code, 2, 'a path with % is refused for a task')
    assert.match(r.stderr, /--swarm-key .*%/)
    const plainKey = join(tmp, 'keys dir', 'fleet "key".key')
    writeFileSync(plainKey, generateSwarmKey(), { mode: 0o600 })
    const w = cli([
      'install-service',
      '--print',
      '--platform',
      'windows',
      '--data-dir',
      dataDir,
      '--swarm-key',
      plainKey,
    ])
    assert.equal(w.code, 0, w.stderr)
    const lines = w.stdout.split('\r\n')
    assert.equal(lines.at(-1), '', 'CRLF lines')
    const action = lines.find((l) => l.startsWith('$action = New-ScheduledTaskAction'))!
    assert.equal(psLiteral(action, 'Execute'), NODE)
    assert.equal(psLiteral(action, 'WorkingDirectory'), ROOT)
    assert.deepEqual(commandLineToArgv(psLiteral(action, 'Argument')), [
      BIN,
      'start',
      '--data-dir',
      dataDir,
      '--swarm-key',
      plainKey,
    ])
    assert.ok(lines.includes('$trigger = New-ScheduledTaskTrigger -AtStartup'))
    const settings = lines.find((l) => l.startsWith('$settings = New-ScheduledTaskSettingsSet'))!
    assert.match(settings, / -RestartCount \d+ /)
    assert.match(settings, / -RestartInterval \(New-TimeSpan -Minutes 1\) /)
    assert.match(settings, / -ExecutionTimeLimit \(\[TimeSpan\]::Zero\) /)
    const principal = lines.find((l) => l.startsWith('$principal = '))!
    assert.equal(psLiteral(principal, 'UserId'), userInfo().username)
    assert.match(principal, /-LogonType S4U/)
    assert.ok(
      lines.some((l) => l.startsWith("Register-ScheduledTask -TaskName 'cis490-node' ") && l.includes(' -Force')),
    )
    // Every single-quoted literal of the script is closed on its line.
    for (const l of lines) {
      const quotes = (l.match(/['\u2018\u2019\u201a\u201b]/g) ?? []).length
      if (!l.startsWith('#') && !l.includes('"cis490-node: this host')) assert.equal(quotes % 2, 0, l)
    }
    const user = cli([
      'install-service',
      '--print',
      '--user',
      '--platform',
      'windows',
      '--data-dir',
      tmp,
      '--swarm-key',
      plainKey,
    ])
    assert.match(user.stdout, /New-ScheduledTaskTrigger -AtLogOn -User '/)
    assert.match(user.stdout, /-LogonType Interactive/)
  })

  it('without --print on Windows, writes the script (with a byte-order mark) and says how to run it', () => {
    const out = join(tmp, 'ps')
    mkdirSync(out)
    const plainKey = join(tmp, 'plain.key')
    writeFileSync(plainKey, generateSwarmKey(), { mode: 0o600 })
    const r = cli([
      'install-service',
      '--platform',
      'windows',
      '--unit-dir',
      out,
      '--data-dir',
      tmp,
      '--swarm-key',
      plainKey,
    ])
    assert.equal(r.code, 0, r.stderr)
    const script = readFileSync(join(out, 'install-service.ps1'), 'utf8')
    assert.ok(script.startsWith('\ufeff# Written by'))
    assert.match(r.stdout, /powershell -NoProfile -ExecutionPolicy Bypass -File /)
  })

  it('quotes Windows arguments and PowerShell literals so that they split back exactly', () => {
    const samples = [
      'plain',
      '',
      'a b',
      'C:\\a b\\',
      'say "hi"',
      'C:\\x\\\\"y',
      'tab\there',
      '\\\\server\\share\\',
      'ends\\',
    ]
    for (const s of samples)
      assert.deepEqual(commandLineToArgv(`x ${windowsArg(s)} y`), ['x', s, 'y'], JSON.stringify(s))
    for (const s of ["it's", 'a\u2019b', "''", 'none']) assert.equal(psLiteral(`-V ${powershellQuote(s)}`, 'V'), s)
  })

  it('bad input exits 2 with one line naming the input', () => {
    const aFile = join(tmp, 'a-file')
    writeFileSync(aFile, 'x')
    const garbage = join(tmp, 'garbage.key')
    writeFileSync(garbage, 'not a key\n')
    const noKeyDir = join(tmp, 'no-key-here')
    mkdirSync(noKeyDir)
    const cases: [string[], RegExp][] = [
      [['--platform', 'macos', '--print'], /--platform "macos": expected linux or windows/],
      [
        ['--print', '--data-dir', tmp, '--swarm-key', join(tmp, 'missing.key')],
        /--swarm-key .*missing\.key: no such file/,
      ],
      [['--print', '--data-dir', tmp, '--swarm-key', garbage], /--swarm-key .*garbage\.key.*not a swarm key/],
      [['--print', '--data-dir', tmp, '--swarm-key', tmp], /--swarm-key .*: is a directory/],
      [['--print', '--data-dir', aFile, '--swarm-key', key], /--data-dir .*a-file: is a file/],
      [
        ['--print', '--data-dir', join(aFile, 'sub'), '--swarm-key', key],
        /--data-dir .*a-file\/sub: cannot be created/,
      ],
      [['--print', '--data-dir', `${tmp}/new\nline`, '--swarm-key', key], /--data-dir .*control character/],
      [['--print', '--data-dir', '', '--swarm-key', key], /--data-dir: expected a path/],
      [['--print', '--data-dir', noKeyDir], /--swarm-key: none given and no .*no-key-here\/swarm\.key/],
      [
        ['--data-dir', tmp, '--swarm-key', key, '--unit-dir', join(tmp, 'nowhere')],
        /--unit-dir .*nowhere: no such directory/,
      ],
    ]
    for (const [args, message] of cases) {
      const platform = args.includes('--platform') ? [] : ['--platform', 'linux']
      const r = cli(['install-service', ...platform, ...args])
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, message)
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`)
      assert.match(r.stderr, /^error: /)
      assert.equal(r.stdout, '', 'nothing on stdout')
    }
    assert.equal(existsSync(join(tmp, 'nowhere')), false)
  })
})
