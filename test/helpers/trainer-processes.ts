import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { NodeFleet, TestNode } from './node-fleet.ts'

/**
 * The pid in a node's run directory of `job` (`DATA_DIR/runs/<job>-g<gen>-r<round>/pid`),
 * the highest round's when there are several; null when there is none.
 */
export function trainerPid(dataDir: string, job: string): number | null {
  let names: string[]
  try {
    names = readdirSync(join(dataDir, 'runs')).filter((n) => n.startsWith(`${job}-`))
  } catch {
    return null
  }
  const round = (n: string) => Number(/-r(\d+)$/.exec(n)?.[1] ?? -1)
  names.sort((x, y) => round(y) - round(x))
  for (const name of names) {
    try {
      const pid = Number(readFileSync(join(dataDir, 'runs', name, 'pid'), 'utf8').trim())
      if (Number.isInteger(pid) && pid > 1) return pid
    } catch {}
  }
  return null
}

/** Whether `pid` runs (a zombie, dead but not yet reaped by its parent, does not). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // /proc/PID/stat: "pid (comm) S ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return process.platform !== 'linux'
  }
}

/** Whether `pid` is alive and a `cis490-node train --job-file` process (so it is safe to kill). */
export function isTrainer(pid: number): boolean {
  if (!isAlive(pid)) return false
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    return argv.includes('train') && argv.includes('--job-file')
  } catch {
    return false
  }
}

/** Polls until `pid` is gone; returns how long that took (ms) or throws after `timeoutMs`. */
export async function waitGone(pid: number, timeoutMs: number): Promise<number> {
  const started = Date.now()
  while (isAlive(pid)) {
    if (Date.now() - started > timeoutMs) throw new Error(`trainer ${pid} still running after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return Date.now() - started
}

/** A node's JSON log lines (its stderr) whose `msg` is `msg`, optionally of one job (the 12-digit prefix the log uses). */
export function logEntries(node: TestNode, msg: string, job?: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  for (const line of node.stderr.split('\n')) {
    if (!line.startsWith('{') || !line.includes(msg)) continue
    try {
      const entry = JSON.parse(line) as Record<string, unknown>
      if (entry.msg === msg && (job === undefined || entry.job === job.slice(0, 12))) out.push(entry)
    } catch {}
  }
  return out
}

/** Every JSON line of a node's `DATA_DIR/node.log` (all its incarnations) whose `msg` is `msg`. */
export function nodeLogEntries(dataDir: string, msg: string): Record<string, unknown>[] {
  let text: string
  try {
    text = readFileSync(join(dataDir, 'node.log'), 'utf8')
  } catch {
    return []
  }
  const out: Record<string, unknown>[] = []
  for (const line of text.split('\n')) {
    if (!line.includes(msg)) continue
    try {
      const entry = JSON.parse(line) as Record<string, unknown>
      if (entry.msg === msg) out.push(entry)
    } catch {}
  }
  return out
}

/**
 * Stops a fleet whose nodes run trainers, leaving no process behind: every node still
 * running gets SIGTERM (it stops its trainers) and SIGKILL after `graceMs`; then every
 * trainer still alive that a pid file under a node's `runs/` names, or that `pids` lists
 * (orphans of nodes a test SIGKILLed), is killed; then `fleet.close()` removes the temp dir.
 */
export async function closeTrainingFleet(fleet: NodeFleet | undefined, pids: Iterable<number>, graceMs = 20_000) {
  if (fleet === undefined) return
  await Promise.all(
    fleet.nodes.map(async (n) => {
      if (n.proc.exitCode !== null || n.proc.signalCode !== null) return
      const timer = setTimeout(() => n.proc.kill('SIGKILL'), graceMs)
      try {
        await fleet.kill(n, 'SIGTERM')
      } finally {
        clearTimeout(timer)
      }
    }),
  )
  const left = new Set(pids)
  for (const n of fleet.nodes) {
    try {
      for (const name of readdirSync(join(n.dataDir, 'runs'))) {
        try {
          left.add(Number(readFileSync(join(n.dataDir, 'runs', name, 'pid'), 'utf8').trim()))
        } catch {}
      }
    } catch {}
  }
  for (const pid of left) {
    if (!Number.isInteger(pid) || pid <= 1 || !isTrainer(pid)) continue
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  await fleet.close()
}
