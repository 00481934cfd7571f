import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RunError } from '../errors.ts'

const BIN = fileURLToPath(new URL('../bin.ts', import.meta.url))

/** How long a node may take to print its API address (libp2p's import alone takes seconds on 2 busy cores). */
const START_TIMEOUT_MS = 120_000
/** How long a stopping node may take to release its claims and flush before its process group is killed. */
const STOP_GRACE_MS = 10_000
/** Bytes of a node's stderr kept for error messages. */
const STDERR_TAIL = 8_000

/** One `cis490-node start` child process of the demo fleet. */
export interface DemoNode {
  readonly name: string
  readonly dataDir: string
  readonly peerId: string
  /** `/ip4/127.0.0.1/tcp/PORT/p2p/PEER`. */
  readonly address: string
  readonly store: boolean
  proc: ChildProcess | null
  /** `127.0.0.1:PORT`, known once the node runs. */
  api: string
  stderrTail: string
}

/** The keys and files the fleet starts from. */
export interface DemoFleetFiles {
  readonly swarmKey: string
  readonly operatorKey: string
}

/**
 * Ports the kernel says are free on loopback, held together so that they differ.
 * @remarks A port could be taken between this and the node's bind; a node that then fails
 * to start says so, naming the address.
 */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import('node:net').Server>((ready, fail) => {
          const s = createServer()
          s.once('error', fail)
          s.listen(0, '127.0.0.1', () => ready(s))
        }),
    ),
  )
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))))
  return ports
}

/**
 * The demo's peers: child processes, each the leader of its own process group (so that its
 * trainers die with it), all files in one temp dir.
 *
 * @remarks `stop()` asks every node to stop (SIGTERM: it releases its claims and stops its
 * trainers), kills what is left of each process group after a grace period and removes the
 * temp dir. `killNow()` is the synchronous last resort (a second Ctrl-C, the process exiting).
 */
export class DemoFleet {
  readonly dir: string
  readonly nodes: DemoNode[] = []
  private removed = false

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'cis490-demo-'))
  }

  /** A node's data dir with its peer key written in advance, so that every peer's address is known before any starts. */
  async prepareNode(name: string, port: number, opts: { store: boolean }): Promise<DemoNode> {
    const { generateKey, publicKeyText, savePrivateKey } = await import('../../node/index.ts')
    const dataDir = join(this.dir, name)
    mkdirSync(dataDir, { mode: 0o700 })
    const key = await generateKey()
    savePrivateKey(join(dataDir, 'peer.key'), key)
    const peerId = publicKeyText(key)
    const node: DemoNode = {
      name,
      dataDir,
      peerId,
      address: `/ip4/127.0.0.1/tcp/${port}/p2p/${peerId}`,
      store: opts.store,
      proc: null,
      api: '',
      stderrTail: '',
    }
    this.nodes.push(node)
    return node
  }

  /** Writes a file into the temp dir and returns its path. */
  writeFile(name: string, text: string, mode = 0o600): string {
    const file = join(this.dir, name)
    writeFileSync(file, text, { mode })
    return file
  }

  /**
   * Starts a node with `args` after `start`, and resolves once it prints its API address.
   * @throws RunError with the tail of its stderr when it exits or does not start in time.
   */
  startNode(node: DemoNode, args: readonly string[], opts: { signal?: AbortSignal } = {}): Promise<void> {
    const proc = spawn(process.execPath, [BIN, 'start', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
      env: { ...process.env, CIS490_DEBUG: process.env.CIS490_DEBUG ?? '' },
    })
    node.proc = proc
    proc.stderr?.setEncoding('utf8')
    return new Promise<void>((ready, fail) => {
      const done = (err?: Error) => {
        clearTimeout(timer)
        opts.signal?.removeEventListener('abort', onAbort)
        if (err === undefined) ready()
        else fail(err)
      }
      const onAbort = () => done(opts.signal?.reason as Error)
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      const timer = setTimeout(
        () =>
          done(new RunError(`demo node ${node.name} did not start within ${START_TIMEOUT_MS / 1000} s${tail(node)}`)),
        START_TIMEOUT_MS,
      )
      // Always read stderr: a pipe nobody drains would block the node once it fills.
      proc.stderr?.on('data', (chunk: string) => {
        node.stderrTail = (node.stderrTail + chunk).slice(-STDERR_TAIL)
        if (node.api !== '') return
        const m = /is running; API http:\/\/([\d.]+:\d+)/.exec(node.stderrTail)
        if (m !== null) {
          node.api = m[1]
          done()
        }
      })
      proc.once('exit', (code, signal) => {
        if (node.api === '')
          done(
            new RunError(`demo node ${node.name} exited (${signal ?? `code ${code}`}) before it started${tail(node)}`),
          )
      })
      proc.once('error', (err) => done(new RunError(`demo node ${node.name}: cannot start: ${err.message}`)))
    })
  }

  /** The nodes whose process has not exited. */
  private live(): DemoNode[] {
    return this.nodes.filter((n) => n.proc !== null && n.proc.exitCode === null && n.proc.signalCode === null)
  }

  /** Stops every node (SIGTERM, then SIGKILL to its process group after the grace period) and removes the temp dir. */
  async stop(): Promise<void> {
    await Promise.all(
      this.live().map(async (n) => {
        const proc = n.proc as ChildProcess
        const exited = new Promise<void>((done) => proc.once('exit', () => done()))
        signalPid(proc.pid, 'SIGTERM')
        let timer: NodeJS.Timeout | undefined
        await Promise.race([exited, new Promise<void>((done) => (timer = setTimeout(done, STOP_GRACE_MS)))])
        clearTimeout(timer)
      }),
    )
    // The node is gone or late: whatever is left of its group (a trainer that ignored SIGTERM) goes now.
    for (const n of this.nodes) signalGroup(n.proc?.pid, 'SIGKILL')
    await Promise.all(
      this.live().map((n) => new Promise<void>((done) => (n.proc as ChildProcess).once('exit', () => done()))),
    )
    this.removeDir()
  }

  /** Kills every process group at once and removes the temp dir (synchronous: safe in an `exit` handler). */
  killNow(): void {
    for (const n of this.nodes) signalGroup(n.proc?.pid, 'SIGKILL')
    this.removeDir()
  }

  private removeDir(): void {
    if (this.removed) return
    // A node killed mid-write may still be closing files: retry a few times.
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
    this.removed = true
  }
}

function tail(node: DemoNode): string {
  const text = node.stderrTail.trim().split('\n').slice(-8).join('\n')
  return text === '' ? '' : `:\n${text}`
}

function signalPid(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return
  try {
    process.kill(pid, signal)
  } catch {
    // ESRCH: already gone.
  }
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return
  try {
    process.kill(-pid, signal)
  } catch {
    // ESRCH: the whole group is gone.
  }
}
