import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { runCliProcess } from '../helpers/cli.ts'

const FIELDS = [
  'seed',
  'peers',
  'jobs',
  'faults',
  'virtual_seconds',
  'wall_ms',
  'completed',
  'failed',
  'cancelled',
  'unfinished',
  'runs_started',
  'duplicate_runs',
  'overlaps_across_partitions',
  'max_attempt_seen',
  'converged',
  'invariant_violations',
  'doc_bytes',
  'messages_sent',
  'messages_dropped',
]

describe('cis490-node sim', () => {
  it('--json prints one object per seed with exactly the contract fields, and exits 0', () => {
    const r = runCliProcess([
      'sim',
      '--peers',
      '4',
      '--jobs',
      '8',
      '--seed',
      '5',
      '--seeds',
      '2',
      '--faults',
      'all',
      '--json',
    ])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.equal(lines.length, 2)
    for (const [i, line] of lines.entries()) {
      const o = JSON.parse(line)
      assert.deepEqual(Object.keys(o), FIELDS)
      assert.equal(o.seed, 5 + i)
      assert.deepEqual(o.faults, ['crash', 'partition', 'drop', 'dup', 'reorder', 'skew', 'trainer', 'ops'])
      assert.equal(o.peers, 4)
      assert.equal(o.jobs, 8)
      assert.deepEqual(o.invariant_violations, [])
      assert.equal(o.converged, true)
    }
  })

  it('exits 1 naming the seed, the invariant and the events when an invariant is violated', () => {
    const r = runCliProcess([
      'sim',
      '--peers',
      '8',
      '--jobs',
      '6',
      '--seed',
      '1',
      '--config',
      '{"settleMs":0,"latencyMinMs":100,"latencyMaxMs":300}',
    ])
    assert.equal(r.code, 1)
    assert.match(r.stdout, /duplicate while connected/)
    assert.match(r.stderr, /seed 1: invariant 1 \(no duplicate runs while connected\) violated/)
    assert.match(r.stderr, /events that led to it:\n/)
    assert.match(r.stderr, /\n\s+t=\d+\.\d+s p\d{3} claim [0-9a-f]{12} g0 r1 score=\d+\n/)
  })

  it('exits 2 on bad usage', () => {
    for (const args of [
      ['--faults', 'meteor'],
      ['--peers', '0'],
      ['--duration', '-3'],
      ['--config', '{"nope":1}'],
    ]) {
      const r = runCliProcess(['sim', ...args])
      assert.equal(r.code, 2, args.join(' '))
      assert.match(r.stderr, /^error: --/)
    }
  })
})
