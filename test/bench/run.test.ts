import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { BENCHES, type BenchSpec, formatTable, lastJsonObject, runBenches, toRows } from '../../bench/run.ts'

const dir = mkdtempSync(join(tmpdir(), 'cis490-bench-run-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** A fake bench: prints a line, then `{value, reference, args}` where value comes from its first argument. */
const fake = join(dir, 'fake-bench.mjs')
writeFileSync(
  fake,
  `const args = process.argv.slice(2)
if (args[0] === 'crash') { console.error('something broke'); process.exit(3) }
if (args[0] === 'silent') { console.log('no json here'); process.exit(0) }
if (args[0] === 'sleep') await new Promise((r) => setTimeout(r, 60_000))
console.log('human line')
console.log(JSON.stringify({ value: Number(args[0]), reference: 2, args }))
`,
)

function spec(name: string, full: string[], quick: string[] = full): BenchSpec {
  return {
    name,
    file: fake,
    args: full,
    quickArgs: quick,
    rows: (r) => [
      {
        what: `${name} speed`,
        ours: Number(r.value),
        reference: Number(r.reference),
        unit: 'MB/s',
        target: { of: 'ratio', op: '>=', value: 1 },
      },
      { what: `${name} args`, ours: (r.args as string[]).length, unit: 'args' },
    ],
  }
}

describe('bench/run.ts', () => {
  it('runs each bench with --json (quick args under --quick) and computes ratios and targets', async () => {
    const lines: string[] = []
    const { outcomes, exitCode } = await runBenches([spec('ok', ['1'], ['4'])], {
      quick: true,
      onOutput: (_, line) => lines.push(line),
    })
    assert.equal(exitCode, 0)
    assert.deepEqual(lines, ['human line'])
    const [speed, args] = outcomes[0].rows
    assert.equal(speed.ratio, 2)
    assert.equal(speed.met, true)
    assert.equal(speed.target, 'ratio >= 1')
    assert.equal(args.ours, 2, 'the quick argument and --json')
    assert.equal(args.met, null, 'no target, no verdict')
    const table = formatTable(outcomes)
    assert.match(table.split('\n')[0], /^bench\s+what\s+ours\s+reference\s+ratio\s+target\s+met\?$/)
    assert.match(table, /ok\s+ok speed\s+4\.00 MB\/s\s+2\.00 MB\/s\s+2\.00\s+ratio >= 1\s+yes/)
  })

  it('exits 1 when a target is missed, a bench fails, prints no JSON or times out', async () => {
    const missed = await runBenches([spec('ok', ['4']), spec('slow', ['1'])])
    assert.equal(missed.exitCode, 1)
    assert.equal(missed.outcomes[1].rows[0].met, false)
    assert.match(formatTable(missed.outcomes), /slow speed .* NO/)

    const failed = await runBenches([spec('crash', ['crash']), spec('silent', ['silent'])])
    assert.equal(failed.exitCode, 1)
    assert.match(failed.outcomes[0].error ?? '', /exit 3: something broke/)
    assert.equal(failed.outcomes[1].error, 'printed no JSON object')
    assert.match(formatTable(failed.outcomes), /crash\s+FAILED: exit 3/)

    const slow = await runBenches([spec('sleep', ['sleep'])], { timeoutMs: 300 })
    assert.equal(slow.exitCode, 1)
    assert.match(slow.outcomes[0].error ?? '', /timed out/)
  })

  it('a broken check misses the row whatever its numbers; markdown escapes cells', () => {
    const rows = toRows('x', [
      {
        what: 'a|b',
        ours: 3,
        reference: 1,
        unit: 's',
        target: { of: 'ours', op: '<=', value: 60 },
        broken: 'invariants violated',
      },
    ])
    assert.equal(rows[0].met, false)
    assert.equal(rows[0].ratio, 3)
    assert.match(formatTable([{ name: 'x', seconds: 1, rows }], 'markdown'), /\| x \| a\\\|b \| 3\.00 s \|/)
  })

  it('reads the last JSON object of the output', () => {
    assert.deepEqual(lastJsonObject('text\n{"a":1}\n{"b":2}\n'), { b: 2 })
    assert.equal(lastJsonObject('text\n[1]\n'), undefined)
  })

  it('knows every bench of bench/ and refuses unknown names (exit 2)', () => {
    // every script of bench/ but the runner and the shared data builder
    const scripts = readdirSync(join(import.meta.dirname, '../../bench'))
      .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && f !== 'neural-data.ts')
      .sort()
    assert.deepEqual(BENCHES.map((b) => b.file).sort(), scripts)
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '../../bench/run.ts'), '--only', 'nope'], {
      encoding: 'utf8',
    })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /unknown bench "nope"/)
  })
})
