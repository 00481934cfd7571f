import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { plainEnv } from '../helpers/cli.ts'

const BIN = fileURLToPath(new URL('../../cli/bin.ts', import.meta.url))

/** Pids of the processes whose command line mentions `text` (the demo's temp dir). */
function processesMentioning(text: string): number[] {
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(text)) pids.push(Number(name))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

interface DemoRun {
  proc: ChildProcess
  stdout: string
  stderr: string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Runs `cis490-node demo ARGS` with its temp files under `tmp`, stdout and stderr piped (no TTY). */
function runDemo(args: string[], tmp: string): DemoRun {
  const proc = spawn(process.execPath, [BIN, 'demo', ...args], {
    env: { ...plainEnv(), TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const run: DemoRun = {
    proc,
    stdout: '',
    stderr: '',
    exited: new Promise((done) => proc.once('exit', (code, signal) => done({ code, signal }))),
  }
  proc.stdout?.setEncoding('utf8').on('data', (c: string) => (run.stdout += c))
  proc.stderr?.setEncoding('utf8').on('data', (c: string) => (run.stderr += c))
  return run
}

/** Waits until `run`'s output matches `re`, or fails with the output so far. */
async function outputMatching(run: DemoRun, re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const m = re.exec(run.stdout + run.stderr)
    if (m !== null) return m
    if (run.proc.exitCode !== null || Date.now() > end)
      throw new Error(`no ${re} in the demo's output:\n${run.stdout}\n${run.stderr}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** Asserts that nothing of the demo is left: no process mentions its temp dir, the dir and the TMPDIR are empty. */
function assertNothingLeft(demoDir: string, tmp: string, pids: number[]): void {
  assert.deepEqual(processesMentioning(demoDir), [], `no process of the demo's fleet remains (${demoDir})`)
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `node pid ${pid} is gone`)
  assert.ok(!existsSync(demoDir), `${demoDir} was removed`)
  assert.deepEqual(readdirSync(tmp), [], 'the demo left nothing in TMPDIR')
}

type DemoJson = {
  seconds: number
  dir: string
  nodes: { name: string; pid: number; store: boolean }[]
  host_policies: Record<string, { deny_jobs: string[] }>
  jobs: { id: string; model: string; mode: string; status: string; attempts: { host: string; outcome: string }[] }[]
  results: { model: string; mode: string; val_macro_f1: number; test_macro_f1: number; bundle: string }[]
  bundles: { cid: string }[]
}

describe('cis490-node demo', { timeout: 600_000 }, () => {
  const tmps: string[] = []
  const runs: DemoRun[] = []
  after(() => {
    // Whatever a failed test left behind goes, so that the suite leaks nothing either.
    for (const r of runs) if (r.proc.exitCode === null) r.proc.kill('SIGKILL')
    for (const tmp of tmps) {
      for (const pid of processesMentioning(tmp)) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {}
      }
      rmSync(tmp, { recursive: true, force: true })
    }
  })
  const newTmp = () => {
    const t = mkdtempSync(join(tmpdir(), 'cis490-demo-test-'))
    tmps.push(t)
    return t
  }

  it('trains every job, prints the leaderboard in both modes, keeps the denied model off its host, and cleans up', async () => {
    const tmp = newTmp()
    const run = runDemo(['--json'], tmp)
    runs.push(run)
    const { code } = await run.exited
    assert.equal(code, 0, run.stderr)
    const report = JSON.parse(run.stdout) as DemoJson
    assert.equal(report.jobs.length, 10)
    for (const j of report.jobs) assert.equal(j.status, 'completed', `${j.model} ${j.mode}: ${j.status}`)

    // The leaderboard: every model in both modes, with val and test F1 and a bundle.
    const models = [...new Set(report.jobs.map((j) => j.model))].sort()
    assert.deepEqual(models, ['gbt', 'gru', 'knn', 'knn_semi', 'mlp'])
    for (const model of models)
      for (const mode of ['realistic', 'oracle']) {
        const r = report.results.find((x) => x.model === model && x.mode === mode)
        assert.ok(r !== undefined, `a result for ${model} ${mode}`)
        assert.ok(r.val_macro_f1 >= 0 && r.val_macro_f1 <= 1 && r.test_macro_f1 >= 0 && r.test_macro_f1 <= 1)
        assert.match(r.bundle, /^bafy/)
        const line = new RegExp(
          `^${model}\\s+${mode}\\s+${r.val_macro_f1.toFixed(4)}\\s+${r.test_macro_f1.toFixed(4)}\\s`,
          'm',
        )
        assert.match(run.stderr, line, `the leaderboard shows ${model} ${mode}`)
      }
    assert.match(run.stderr, /^MODEL\s+MODE\s+VAL F1\s+TEST F1/m)
    // Live change lines (no TTY): jobs were seen running and completing.
    assert.match(run.stderr, /^\[\s*[\d.]+s\] [0-9a-f]{12} \S+\s+\S+\s+running on (alpha|beta|gamma)$/m)
    assert.match(run.stderr, /cis490-node fetch bafy\S+ --out \S+ --api 127\.0\.0\.1:\d+/)

    // The host policy: gamma denies gru, and no attempt of a gru job ran there.
    assert.deepEqual(report.host_policies.gamma?.deny_jobs, ['gru'])
    for (const j of report.jobs.filter((x) => x.model === 'gru')) {
      assert.ok(j.attempts.length > 0)
      assert.ok(
        j.attempts.every((a) => a.host !== 'gamma'),
        `gru ${j.mode} attempts: ${JSON.stringify(j.attempts)}`,
      )
    }
    // The store peer pinned every bundle.
    assert.deepEqual(report.bundles.map((b) => b.cid).sort(), report.results.map((r) => r.bundle).sort())
    assert.equal(report.nodes.length, 3)
    assert.ok(report.dir.startsWith(tmp))
    assertNothingLeft(
      report.dir,
      tmp,
      report.nodes.map((n) => n.pid),
    )
  })

  it('--keep leaves the fleet running with its dashboards served until SIGINT, then exits 0 and leaves nothing', async () => {
    const tmp = newTmp()
    const run = runDemo(['--keep'], tmp)
    runs.push(run)
    const dir = (await outputMatching(run, /files in (\S+)/, 60_000))[1]
    await outputMatching(run, /Ctrl-C stops the peers/, 300_000)
    const pids = [...(run.stdout + run.stderr).matchAll(/started \w+\s+pid (\d+)/g)].map((m) => Number(m[1]))
    assert.equal(pids.length, 3)
    const urls = [...run.stdout.matchAll(/^ {2}(http:\/\/127\.0\.0\.1:\d+\/) {3}(alpha|beta|gamma)/gm)]
    assert.equal(urls.length, 3, run.stdout)
    assert.match(run.stdout, /alpha \(store\)|beta \(store\)|gamma \(store\)/)
    // Kept running: some seconds later every node still serves its dashboard and the finished table.
    await new Promise((r) => setTimeout(r, 3000))
    assert.equal(run.proc.exitCode, null, 'the demo still runs')
    for (const [, url] of urls) {
      const page = await fetch(url)
      assert.equal(page.status, 200, url)
      assert.match(page.headers.get('content-type') ?? '', /text\/html/)
      const jobs = (await (await fetch(new URL('v1/jobs', url))).json()) as { status: string }[]
      assert.equal(jobs.length, 10)
      assert.ok(
        jobs.every((j) => j.status === 'completed'),
        `${url}: ${jobs.map((j) => j.status)}`,
      )
    }
    run.proc.kill('SIGINT')
    const { code } = await run.exited
    assert.equal(code, 0, run.stderr)
    assert.match(run.stdout, /stopped the fleet and removed/)
    assertNothingLeft(dir, tmp, pids)
  })

  it('stops the fleet and removes its files on SIGINT while jobs train', async () => {
    const tmp = newTmp()
    const run = runDemo([], tmp)
    runs.push(run)
    const dir = (await outputMatching(run, /files in (\S+)/, 60_000))[1]
    await outputMatching(run, /running on (alpha|beta|gamma)/, 300_000)
    const pids = [...(run.stdout + run.stderr).matchAll(/started \w+\s+pid (\d+)/g)].map((m) => Number(m[1]))
    assert.equal(pids.length, 3)
    assert.ok(processesMentioning(dir).length > 3, 'nodes and at least one trainer run')
    run.proc.kill('SIGINT')
    const { code } = await run.exited
    assert.equal(code, 1, run.stderr)
    assert.match(run.stderr, /error: demo interrupted by SIGINT; the fleet was stopped/)
    assert.doesNotMatch(run.stderr, /internal error|\n\s+at /)
    assertNothingLeft(dir, tmp, pids)
  })
})
