import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LiveJobView, leaderboardText } from '../../cli/commands/demo-view.ts'
import type { JobJson, ResultJson } from '../../node/api/index.ts'

const job = (id: string, status: JobJson['status'], host: string | null = null): JobJson => ({
  id: id.repeat(64).slice(0, 64),
  model: 'knn',
  mode: 'oracle',
  status,
  attempt: 1,
  max_attempts: 3,
  generation: 1,
  owner: host === null ? null : '12D3KooW',
  host,
  priority: 0,
  bundle: null,
  val_macro_f1: status === 'completed' ? 0.5 : null,
  test_macro_f1: status === 'completed' ? 0.25 : null,
  error: null,
  updated_at: null,
})

function capture() {
  const chunks: string[] = []
  return { out: { write: (t: string) => chunks.push(t) }, chunks }
}

describe('the demo live view', () => {
  it('without a TTY prints one line per job whose state changed', () => {
    const { out, chunks } = capture()
    const view = new LiveJobView(out, { tty: false, started: 0, colour: false })
    view.update([job('a', 'pending'), job('b', 'pending')], 3, 1000)
    view.update([job('a', 'running', 'beta'), job('b', 'pending')], 3, 2500)
    view.update([job('a', 'running', 'beta'), job('b', 'pending')], 3, 3000)
    view.update([job('a', 'completed', 'beta'), job('b', 'claimed', 'gamma')], 3, 4000)
    assert.deepEqual(chunks.join('').trim().split('\n'), [
      '[  1.0s] aaaaaaaaaaaa knn      oracle    pending',
      '[  1.0s] bbbbbbbbbbbb knn      oracle    pending',
      '[  2.5s] aaaaaaaaaaaa knn      oracle    running on beta',
      '[  4.0s] aaaaaaaaaaaa knn      oracle    completed on beta: val F1 0.5000',
      '[  4.0s] bbbbbbbbbbbb knn      oracle    claimed by gamma',
    ])
  })

  it('on a TTY redraws the table in place, its lines cut to the terminal width', () => {
    const { out, chunks } = capture()
    const view = new LiveJobView(out, { tty: true, started: 0, columns: () => 40, colour: false })
    view.update([job('a', 'pending'), job('b', 'pending')], 3, 1000)
    assert.ok(!chunks[0].includes('\x1b['), 'the first drawing moves no cursor')
    const lines = chunks[0].split('\n').slice(0, -1)
    assert.equal(lines.length, 4, 'header, two jobs, the counts line')
    assert.ok(lines.every((l) => l.length <= 39))
    view.update([job('a', 'completed', 'beta'), job('b', 'pending')], 3, 2000)
    assert.ok(chunks[1].startsWith('\x1b[4F\x1b[J'), 'up 4 lines, clear, draw again')
    assert.match(chunks[1], /2 jobs on 3 peers: 1 completed, 1 pend/)
  })

  it('the leaderboard shows val, test and their difference per model and mode', () => {
    const results: ResultJson[] = [
      {
        job: 'x',
        model: 'gbt',
        mode: 'oracle',
        val_macro_f1: 0.75,
        test_macro_f1: 0.5,
        bundle: 'bafyX',
        host: 'alpha',
        fit_seconds: 1,
      },
      {
        job: 'y',
        model: 'gbt',
        mode: 'realistic',
        val_macro_f1: 0.5,
        test_macro_f1: null,
        bundle: null,
        host: null,
        fit_seconds: null,
      },
    ]
    const lines = leaderboardText(results, 'k-gamingcom').trim().split('\n')
    assert.match(lines[0], /^MODEL\s+MODE\s+VAL F1\s+TEST F1\s+TEST-VAL\s+TRAINED ON\s+BUNDLE \(CID\)$/)
    assert.match(lines[1], /^gbt\s+oracle\s+0\.7500\s+0\.5000\s+-0\.2500\s+alpha\s+bafyX$/)
    assert.match(lines[2], /^gbt\s+realistic\s+0\.5000\s+-\s+-\s+-\s+-$/)
    assert.match(lines[3], /test = the held-out host\(s\) k-gamingcom$/)
  })
})
