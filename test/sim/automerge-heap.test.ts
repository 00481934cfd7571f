import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const child = fileURLToPath(new URL('./automerge-heap-child.ts', import.meta.url))

/** Runs the child under --trace-gc: its summary and how many collections "external memory pressure" started. */
function run(arg: string): { summary: { ok: boolean; runs: number }; pressure: number } {
  const r = spawnSync(process.execPath, ['--trace-gc', child, arg], { encoding: 'utf8', timeout: 120_000 })
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  // --trace-gc may print after the summary (a collection at exit): find it by its shape.
  const summary = JSON.parse(lines.findLast((l) => l.startsWith('{"ok"')) as string)
  return { summary, pressure: lines.filter((l) => l.includes('external memory pressure')).length }
}

describe("the simulator's Automerge heap", () => {
  it('grows once at the start, so the documents growing start no "external memory pressure" collections', () => {
    const without = run('no-reserve')
    const withHeap = run('reserve')
    // The same deterministic run either way.
    assert.deepEqual(withHeap.summary, without.summary)
    assert.ok(without.summary.ok)
    // Each growth of the WebAssembly memory starts one (30 or so in this run).
    assert.ok(without.pressure >= 10, `${without.pressure} without the reservation`)
    assert.ok(withHeap.pressure <= without.pressure / 5, `${withHeap.pressure} with it, ${without.pressure} without`)
  })
})
