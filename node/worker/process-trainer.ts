import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, writeFileSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { RunRequest } from '../peer/index.ts'
import type { RoundRef, RunOutcome } from '../scheduler/index.ts'

/** How the trainer runs its children. */
export interface ProcessTrainerInit {
  /** Where runs keep their job files, bundles and pid files (`DATA_DIR/runs`). */
  readonly runsDir: string
  /**
   * The dataset directory every job trains on, or how to get it before a run (a fleet dataset
   * given by CID is fetched and cached before the first run; a failure fails the run).
   */
  readonly datasetDir: string | ((signal: AbortSignal) => Promise<string>)
  /** The command that runs `cis490-node` (argv before `train ...`). */
  readonly command: readonly string[]
  /**
   * Between SIGTERM and SIGKILL when a run is stopped.
   * @default 10000
   */
  readonly graceMs?: number
  /** Extra environment of the children. */
  readonly env?: Readonly<Record<string, string>>
}

/** What the trainer reports back: a run ended (the core records the result or the failure). */
export type RunExitHandler = (ref: RoundRef, outcome: RunOutcome, bundleDir: string | null) => void

/** A trainer child exited (for metrics): its model, how it ended and its wall time from spawn to exit. */
export type RunEndedHandler = (run: {
  model: string
  outcome: 'completed' | 'failed' | 'stopped'
  seconds: number
}) => void

interface Child {
  readonly ref: RoundRef
  readonly proc: ChildProcess
  readonly dir: string
  stopping: boolean
  stderrTail: string[]
  stdout: string
}

const TAIL_LINES = 20

/** The trainer's stderr in its run directory (the dashboard shows its tail). */
export const TRAIN_LOG_FILE = 'train.log'
/** A training log stops growing here (progress lines are small; this bounds a runaway trainer). */
const MAX_TRAIN_LOG_BYTES = 16 * 1024 * 1024

/**
 * Runs each job as `cis490-node train --job-file JOB.json --data DIR --out DIR` in a child
 * process, streams its progress into the log and reports how it ended.
 *
 * @remarks A run's files live in `runsDir/<job>-g<generation>-r<round>/` with a `pid`
 * file, so that a node restarted after a crash kills any orphan trainer it finds
 * (`reapOrphans`) before it starts new ones. Stopping a run sends SIGTERM (the trainer
 * removes its temp bundle and exits 1), then SIGKILL after `graceMs`. Only the package's
 * own models run: the job file names a model, and `train` refuses any model it does not ship.
 */
export class ProcessTrainer {
  private readonly log: Logger
  private readonly init: Required<ProcessTrainerInit>
  private readonly onExit: RunExitHandler
  private readonly onRunEnded: RunEndedHandler | undefined
  private readonly children = new Map<string, Child>()
  /** Runs waiting for their dataset; aborted by `stop`/`stopAll` before any child exists. */
  private readonly preparing = new Map<string, { ref: RoundRef; controller: AbortController }>()

  constructor(
    components: { logger: Logger; onExit: RunExitHandler; onRunEnded?: RunEndedHandler },
    init: ProcessTrainerInit,
  ) {
    this.log = components.logger
    this.onExit = components.onExit
    this.onRunEnded = components.onRunEnded
    this.init = { graceMs: 10_000, env: {}, ...init }
  }

  /** Runs now. */
  get active(): number {
    return this.children.size
  }

  /** Kills trainers a crashed incarnation left running (pid files under `runsDir`). */
  async reapOrphans(): Promise<number> {
    await mkdir(this.init.runsDir, { recursive: true, mode: 0o700 })
    let reaped = 0
    for (const name of await readdir(this.init.runsDir)) {
      const pidFile = join(this.init.runsDir, name, 'pid')
      let pid: number
      try {
        pid = Number((await readFile(pidFile, 'utf8')).trim())
      } catch {
        continue
      }
      // Only a trainer of this very run (its job file is in the run dir): after a reboot the
      // pid may belong to anything, another node's trainer on this host included.
      const jobFile = join(this.init.runsDir, name, 'job.json')
      if (Number.isInteger(pid) && pid > 1 && (await isOurTrainer(pid, jobFile))) {
        try {
          process.kill(pid, 'SIGKILL')
          reaped++
          this.log.warn({ pid, run: name }, 'killed an orphan trainer of a previous incarnation')
        } catch {}
        // Gone before its directory goes: a trainer still writing its temp bundle would race the removal.
        await untilGone(pid, ORPHAN_EXIT_WAIT_MS)
      }
      await rm(join(this.init.runsDir, name), { recursive: true, force: true })
    }
    return reaped
  }

  /** Starts a run; `onExit` is called once when it ends, however it ends. */
  start(run: RunRequest): void {
    const key = `${run.job}-g${run.generation}-r${run.round}`
    const dir = join(this.init.runsDir, key)
    const ref = { job: run.job, generation: run.generation, round: run.round }
    void this.spawnRun(ref, run, dir, key).catch((err) => {
      this.log.error({ err, job: run.job }, 'could not start the trainer')
      this.onExit(ref, { ok: false, error: `could not start the trainer: ${(err as Error).message}` }, null)
    })
  }

  private async spawnRun(ref: RoundRef, run: RunRequest, dir: string, key: string): Promise<void> {
    let datasetDir: string
    if (typeof this.init.datasetDir === 'string') datasetDir = this.init.datasetDir
    else {
      const controller = new AbortController()
      this.preparing.set(key, { ref, controller })
      try {
        datasetDir = await this.init.datasetDir(controller.signal)
      } catch (err) {
        if (controller.signal.aborted) {
          this.onExit(ref, { ok: false, error: 'stopped' }, null)
          return
        }
        throw err
      } finally {
        this.preparing.delete(key)
      }
      if (controller.signal.aborted) {
        this.onExit(ref, { ok: false, error: 'stopped' }, null)
        return
      }
    }
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const { id: _id, ...job } = run.spec
    const jobFile = join(dir, 'job.json')
    await writeFile(jobFile, JSON.stringify(job))
    const out = join(dir, 'bundle')
    const [cmd, ...pre] = this.init.command
    const proc = spawn(cmd, [...pre, 'train', '--job-file', jobFile, '--data', datasetDir, '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.init.env },
    })
    const spawnedAt = performance.now()
    const child: Child = { ref, proc, dir, stopping: false, stderrTail: [], stdout: '' }
    this.children.set(key, child)
    // Synchronously: awaiting here would let a child that exits at once close before the
    // 'close' listener below exists, and its run would never be reported.
    if (proc.pid !== undefined) writeFileSync(join(dir, 'pid'), String(proc.pid))
    const log = this.log.child({ job: run.job.slice(0, 12), attempt: run.attempt })
    log.info({ pid: proc.pid, model: run.spec.model, mode: run.spec.mode }, 'trainer started')
    const trainLog = createWriteStream(join(dir, TRAIN_LOG_FILE), { mode: 0o600 })
    trainLog.on('error', (err) => log.warn({ err }, 'cannot write the training log'))
    let logged = 0
    let partial = ''
    proc.stderr?.setEncoding('utf8')
    proc.stderr?.on('data', (chunk: string) => {
      if (logged < MAX_TRAIN_LOG_BYTES) {
        trainLog.write(chunk)
        logged += Buffer.byteLength(chunk)
      }
      const lines = (partial + chunk).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        if (line === '') continue
        log.info({ progress: line }, 'trainer')
        child.stderrTail.push(line)
        if (child.stderrTail.length > TAIL_LINES) child.stderrTail.shift()
      }
    })
    proc.stdout?.setEncoding('utf8')
    proc.stdout?.on('data', (chunk: string) => {
      if (child.stdout.length < 1_000_000) child.stdout += chunk
    })
    proc.on('error', (err) => log.error({ err }, 'trainer process error'))
    proc.on('close', (code, signal) => {
      this.children.delete(key)
      trainLog.end()
      if (partial !== '') child.stderrTail.push(partial)
      void rm(join(dir, 'pid'), { force: true }).catch(() => {})
      const outcome = outcomeOf(code, signal, child)
      log.info({ code, signal, ok: outcome.ok }, 'trainer exited')
      const ended = child.stopping ? 'stopped' : outcome.ok ? 'completed' : 'failed'
      this.onRunEnded?.({ model: run.spec.model, outcome: ended, seconds: (performance.now() - spawnedAt) / 1000 })
      this.onExit(ref, outcome, outcome.ok ? out : null)
    })
  }

  /** Stops a run: SIGTERM, then SIGKILL after the grace period. */
  stop(ref: RoundRef): void {
    for (const p of this.preparing.values())
      if (p.ref.job === ref.job && p.ref.generation === ref.generation && p.ref.round === ref.round)
        p.controller.abort()
    for (const c of this.children.values()) {
      if (c.ref.job !== ref.job || c.ref.generation !== ref.generation || c.ref.round !== ref.round) continue
      this.terminate(c)
    }
  }

  private terminate(c: Child): Promise<void> {
    c.stopping = true
    return new Promise((done) => {
      if (c.proc.exitCode !== null || c.proc.signalCode !== null) return done()
      const timer = setTimeout(() => c.proc.kill('SIGKILL'), this.init.graceMs)
      c.proc.once('close', () => {
        clearTimeout(timer)
        done()
      })
      c.proc.kill('SIGTERM')
    })
  }

  /** Stops every run and waits until every child is gone. */
  async stopAll(): Promise<void> {
    for (const p of this.preparing.values()) p.controller.abort()
    await Promise.all([...this.children.values()].map((c) => this.terminate(c)))
  }
}

function outcomeOf(code: number | null, signal: NodeJS.Signals | null, child: Child): RunOutcome {
  const tail = child.stderrTail.slice(-8).join('\n')
  if (child.stopping) return { ok: false, error: 'stopped' }
  if (code !== 0) {
    const how = signal !== null ? `killed by ${signal}` : `exited with code ${code}`
    return { ok: false, error: `trainer ${how}${tail === '' ? '' : `:\n${tail}`}` }
  }
  try {
    const r = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '') as {
      bundle?: unknown
      metrics?: { val_macro_f1?: unknown; test_macro_f1?: unknown }
      fit_seconds?: unknown
    }
    const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null)
    if (typeof r.bundle !== 'string' || r.bundle === '') throw new Error('no bundle CID')
    return {
      ok: true,
      bundle: r.bundle,
      valMacroF1: num(r.metrics?.val_macro_f1),
      testMacroF1: num(r.metrics?.test_macro_f1),
      fitSeconds: Math.max(0, num(r.fit_seconds) ?? 0),
    }
  } catch (err) {
    return { ok: false, error: `trainer exited 0 without a result on stdout (${(err as Error).message})` }
  }
}

/**
 * Whether `pid` is alive and runs `cis490-node train --job-file JOB_FILE` (Linux /proc;
 * elsewhere: alive is enough).
 */
async function isOurTrainer(pid: number, jobFile: string): Promise<boolean> {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')
    const at = cmdline.indexOf('--job-file')
    return cmdline.includes('train') && at >= 0 && cmdline[at + 1] === jobFile
  } catch {
    return process.platform !== 'linux'
  }
}

/** How long `reapOrphans` waits for a killed orphan to be gone. */
const ORPHAN_EXIT_WAIT_MS = 5000

/** Waits until `pid` no longer exists (or is a zombie: dead, waiting for its parent), at most `ms`. */
async function untilGone(pid: number, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    try {
      process.kill(pid, 0)
    } catch {
      return
    }
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
    if (stat === '' || stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') return
    await new Promise((r) => setTimeout(r, 20))
  }
}
