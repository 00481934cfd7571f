import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { stripVTControlCharacters } from 'node:util'
import { colourEnabled, sliceVisible, statusPainter, visibleWidth } from '../../cli/colour.ts'
import { LiveJobView } from '../../cli/commands/demo-view.ts'
import { renderProgress } from '../../cli/commands/train.ts'
import { RunError, reportError } from '../../cli/errors.ts'
import { formatTable } from '../../cli/table.ts'
import type { ApiServer, JobJson } from '../../node/api/index.ts'
import { freePort, runCliAsync, servedFixture } from './jobs-run.ts'

const ESC = '\x1b['
const has = (text: string, colour: number, word: string) =>
  assert.ok(text.includes(`${ESC}${colour}m${word}${ESC}39m`), `${word} in colour ${colour}: ${JSON.stringify(text)}`)

/** The column each cell of `line` starts at, by visible width (cells are split on 2+ spaces). */
function cellStarts(line: string): number[] {
  const plain = stripVTControlCharacters(line)
  return [...plain.matchAll(/(?:^|(?<=\s{2}))\S/g)].map((m) => m.index)
}

describe('cli colour: when it is on', () => {
  const tty = { isTTY: true }
  const pipe = { isTTY: false }
  it('on a TTY only, unless the environment says', () => {
    assert.equal(colourEnabled(tty, {}), true)
    assert.equal(colourEnabled(pipe, {}), false)
    assert.equal(colourEnabled({}, {}), false)
  })
  it('a non-empty NO_COLOR turns it off; an empty one does not (no-color.org)', () => {
    assert.equal(colourEnabled(tty, { NO_COLOR: '1' }), false)
    assert.equal(colourEnabled(tty, { NO_COLOR: '0' }), false, 'any non-empty value')
    assert.equal(colourEnabled(tty, { NO_COLOR: '' }), true)
  })
  it('FORCE_COLOR=1 forces it on, even through a pipe; FORCE_COLOR=0 forces it off', () => {
    assert.equal(colourEnabled(pipe, { FORCE_COLOR: '1' }), true)
    assert.equal(colourEnabled(pipe, { FORCE_COLOR: 'true' }), true)
    assert.equal(colourEnabled(tty, { FORCE_COLOR: '0' }), false)
    assert.equal(colourEnabled(tty, { FORCE_COLOR: 'false' }), false)
  })
  it('FORCE_COLOR wins over NO_COLOR, as in Node 22 (tty.getColorDepth, util.styleText)', () => {
    assert.equal(colourEnabled(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' }), true)
    assert.equal(colourEnabled(tty, { FORCE_COLOR: '0', NO_COLOR: '' }), false)
  })
})

describe('cli colour: status cells and tables', () => {
  it('colours the status words and yes/no only', () => {
    const paint = statusPainter(true)
    assert.ok(paint('failed').startsWith(`${ESC}31m`))
    assert.ok(paint('completed').startsWith(`${ESC}32m`))
    assert.ok(paint('no').startsWith(`${ESC}31m`))
    assert.equal(paint('gbt'), 'gbt')
    assert.equal(statusPainter(false)('failed'), 'failed')
  })

  it('a table pads by visible width: coloured and plain tables look the same', () => {
    const rows = [
      ['a', 'completed', 'x'],
      ['bb', 'pending', 'y'],
    ]
    const plain = formatTable(['ID', 'STATUS', 'HOST'], rows)
    const paint = statusPainter(true)
    const coloured = formatTable(
      ['ID', 'STATUS', 'HOST'],
      rows.map(([a, s, h]) => [a, paint(s), h]),
    )
    assert.ok(coloured.includes(`${ESC}33mpending`))
    assert.equal(stripVTControlCharacters(coloured), plain)
    assert.equal(plain.split('\n')[2], 'bb  pending    y')
  })

  it('cuts a line by visible width and resets a colour it cuts through', () => {
    const line = `ab${ESC}31mcdef${ESC}39mgh`
    assert.equal(sliceVisible(line, 4), `ab${ESC}31mcd${ESC}0m`)
    assert.equal(visibleWidth(sliceVisible(line, 4)), 4)
    assert.equal(sliceVisible(line, 100), line)
    assert.equal(sliceVisible('plain text', 5), 'plain')
  })
})

function job(id: string, status: JobJson['status'], host: string | null = null): JobJson {
  return {
    id: id.repeat(64),
    model: 'knn',
    mode: 'oracle',
    status,
    attempt: 1,
    max_attempts: 3,
    generation: 0,
    priority: 0,
    owner: host === null ? null : `peer-${host}`,
    host,
    updated_at: 0,
    val_macro_f1: status === 'completed' ? 0.5 : null,
    test_macro_f1: null,
    bundle: null,
    error: null,
  } as JobJson
}

describe("cli colour: the demo's live table", () => {
  it('colours the status cells on a TTY, keeps the columns and the width cut by visible width', () => {
    const chunks: string[] = []
    const view = new LiveJobView(
      { write: (t: string) => chunks.push(t) },
      {
        tty: true,
        started: 0,
        columns: () => 40,
        colour: true,
      },
    )
    view.update([job('a', 'completed', 'beta'), job('b', 'pending')], 3, 1000)
    const lines = chunks[0].split('\n').slice(0, -1)
    assert.ok(lines[1].includes(`${ESC}32mcompleted`), lines[1])
    assert.ok(lines[2].includes(`${ESC}33mpending`), lines[2])
    assert.ok(lines.every((l) => visibleWidth(l) <= 39))
    assert.deepEqual(cellStarts(lines[1]).slice(0, 5), cellStarts(lines[0]).slice(0, 5))
    assert.deepEqual(cellStarts(lines[2]).slice(0, 4), cellStarts(lines[0]).slice(0, 4))
  })

  it('without colour (a pipe) no escape codes at all in the line per change', () => {
    const chunks: string[] = []
    const view = new LiveJobView({ write: (t: string) => chunks.push(t) }, { tty: false, started: 0, colour: false })
    view.update([job('a', 'failed')], 3, 1000)
    assert.ok(!chunks.join('').includes('\x1b'))
  })
})

describe('cli colour: the error: prefix', () => {
  const capture = (out: { isTTY?: boolean }, env: NodeJS.ProcessEnv) => {
    let text = ''
    reportError(new RunError('boom'), { ...out, write: (t: string) => (text += t) }, env)
    return text
  }
  it('is red on a TTY and with FORCE_COLOR, plain through a pipe and with NO_COLOR', () => {
    assert.equal(capture({ isTTY: true }, {}), `${ESC}31merror:${ESC}39m boom\n`)
    assert.equal(capture({}, { FORCE_COLOR: '1' }), `${ESC}31merror:${ESC}39m boom\n`)
    assert.equal(capture({}, {}), 'error: boom\n')
    assert.equal(capture({ isTTY: true }, { NO_COLOR: '1' }), 'error: boom\n')
  })
})

describe('train progress on a TTY (renderProgress)', () => {
  it('a counted line becomes a bar redrawn in place, cut to the width', () => {
    const r = renderProgress('gbt round 40/200 val mlogloss 0.5', false, 80)
    assert.equal(r.drawing, true)
    assert.equal(r.text, `\r${ESC}2K[####................]  20% gbt round 40/200 val mlogloss 0.5`)
    const e = renderProgress(`epoch 3/3 loss 0.1 ${'x'.repeat(200)}`, true, 60)
    assert.ok(e.text.startsWith(`\r${ESC}2K[####################] 100% epoch 3/3`))
    assert.equal(visibleWidth(e.text.slice(`\r${ESC}2K`.length)), 59)
  })
  it('any other line ends a drawn bar line (kept) and is written whole', () => {
    const long = `round 1/2 ${'y'.repeat(300)}`
    assert.ok(renderProgress(long, false, 0).text.endsWith(long), 'a width of 0 is unknown: no cut')
    assert.deepEqual(renderProgress('training knn', true, 80), { text: '\ntraining knn\n', drawing: false })
    assert.deepEqual(renderProgress('training knn', false, 80), { text: 'training knn\n', drawing: false })
    assert.equal(renderProgress('epoch 0/0', false).drawing, false, 'no total: no bar')
  })
})

describe('cli colour: the commands through a pipe (FORCE_COLOR, NO_COLOR)', () => {
  let server: ApiServer
  let api: string
  before(async () => {
    ;({ server, api } = await servedFixture())
  })
  after(() => server?.stop())

  it('jobs: no escapes through a pipe; FORCE_COLOR=1 colours the status cells, columns aligned by visible width', async () => {
    const plain = await runCliAsync(['jobs', '--api', api])
    assert.equal(plain.code, 0, plain.stderr)
    assert.ok(!plain.stdout.includes('\x1b'))
    const forced = await runCliAsync(['jobs', '--api', api], { FORCE_COLOR: '1' })
    assert.equal(forced.code, 0, forced.stderr)
    has(forced.stdout, 32, 'completed')
    has(forced.stdout, 33, 'pending')
    assert.equal(stripVTControlCharacters(forced.stdout), plain.stdout)
    const lines = forced.stdout.trimEnd().split('\n').slice(0, -1)
    const header = cellStarts(lines[0])
    for (const l of lines.slice(1)) assert.deepEqual(cellStarts(l).slice(0, 5), header.slice(0, 5), l)
    const both = await runCliAsync(['jobs', '--api', api], { FORCE_COLOR: '1', NO_COLOR: '1' })
    assert.equal(both.stdout, forced.stdout, 'FORCE_COLOR wins over NO_COLOR')
    const no = await runCliAsync(['jobs', '--api', api], { NO_COLOR: '1' })
    assert.equal(no.stdout, plain.stdout)
  })

  it('workers and show: yes/no and the status coloured only when forced', async () => {
    const w = await runCliAsync(['workers', '--api', api], { FORCE_COLOR: '1' })
    has(w.stdout, 32, 'yes')
    has(w.stdout, 31, 'no')
    const wp = await runCliAsync(['workers', '--api', api])
    assert.equal(stripVTControlCharacters(w.stdout), wp.stdout)
    const id = (
      JSON.parse((await runCliAsync(['jobs', '--api', api, '--status', 'completed', '--json'])).stdout) as JobJson[]
    )[0].id
    const s = await runCliAsync(['show', id, '--api', api], { FORCE_COLOR: '1' })
    const status = s.stdout.split('\n').find((l) => l.startsWith('status')) ?? ''
    assert.ok(status.includes(`  ${ESC}32mcompleted${ESC}39m, attempt`), status)
    const sp = await runCliAsync(['show', id, '--api', api])
    assert.ok(!sp.stdout.includes('\x1b'))
    assert.equal(stripVTControlCharacters(s.stdout), sp.stdout)
  })

  it('error: red when forced, plain through a pipe; it says what to do next', async () => {
    const port = await freePort()
    const r = await runCliAsync(['jobs', '--api', `127.0.0.1:${port}`], { FORCE_COLOR: '1' })
    assert.equal(r.code, 1)
    assert.ok(r.stderr.startsWith(`${ESC}31merror:${ESC}39m no cis490-node is running at`), r.stderr)
    const p = await runCliAsync(['jobs', '--api', `127.0.0.1:${port}`])
    assert.ok(p.stderr.startsWith('error: no cis490-node is running at'), p.stderr)
    assert.match(p.stderr, /cis490-node start.*--api HOST:PORT/)
  })
})
