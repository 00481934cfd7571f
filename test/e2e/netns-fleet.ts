import { type ChildProcess, execFile, spawn } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKey, generateSwarmKey, publicKeyText, savePrivateKey } from '../../node/index.ts'
import { E2E_PREFIX, NetnsLan } from './netns.ts'

const BIN = fileURLToPath(new URL('../../cli/bin.ts', import.meta.url))
/** Every node serves its API on its own namespace's loopback, so they can all use the default port. */
export const API = '127.0.0.1:7420'
const P2P_PORT = 4490
/** `node -e` script: GET argv[1], print the body, exit 1 on a non-2xx answer or no answer. */
const GET_SCRIPT = `fetch(process.argv[1], { signal: AbortSignal.timeout(10000) })
  .then(async (r) => { process.stdout.write(await r.text()); if (!r.ok) { process.stderr.write('HTTP ' + r.status); process.exitCode = 1 } })
  .catch((e) => { process.stderr.write(String(e)); process.exitCode = 1 })`

/** One `cis490-node start` inside a host's namespace. */
export interface NsNode {
  readonly host: string
  readonly dataDir: string
  proc: ChildProcess
  peerId: string
  /** Everything the node wrote to stderr (its log), capped. */
  stderr: string
}

/** What a `cis490-node` command run inside a namespace returned. */
export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** The `[fleet]` of every manifest of the run, and the `[hosts.*]` policies. */
export interface FleetSetup {
  /** The fleet's operator public key text. */
  operatorId: string
  /** `[hosts.NAME]` tables, as TOML text. */
  hostPolicies: string
  leaseS: number
}

const live = new Set<NetnsFleet>()
let handlersInstalled = false

/** Tears every live fleet down synchronously: on exit, and on SIGINT/SIGTERM before exiting. */
function installCleanupHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  const closeAll = () => {
    for (const f of live) f.closeSync()
  }
  process.once('exit', closeAll)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`e2e: ${signal}: removing the test namespaces and nodes\n`)
      closeAll()
      process.exit(130)
    })
  }
}

/**
 * A fleet of real nodes, one per namespace of a {@link NetnsLan}, with mDNS on and no
 * bootstrap list, all files in one temp dir (`/tmp/c4e2e-PID-*`). `close()` kills every
 * process in the namespaces, deletes them and the temp dir, also on SIGINT/SIGTERM.
 */
export class NetnsFleet {
  readonly dir: string
  readonly lan: NetnsLan
  readonly nodes = new Map<string, NsNode>()
  readonly swarmKey: string
  readonly operatorKey: string
  readonly setup: FleetSetup
  private closed = false

  private constructor(dir: string, lan: NetnsLan, setup: FleetSetup) {
    this.dir = dir
    this.lan = lan
    this.setup = setup
    this.swarmKey = join(dir, 'swarm.key')
    this.operatorKey = join(dir, 'operator.key')
  }

  /** Creates the namespaces, the keys and the temp dir. */
  static async create(hosts: readonly string[], opts: { hostPolicies: string; leaseS: number }): Promise<NetnsFleet> {
    installCleanupHandlers()
    const dir = mkdtempSync(join(tmpdir(), `${E2E_PREFIX}-${process.pid}-`))
    let lan: NetnsLan
    try {
      lan = NetnsLan.create(hosts)
    } catch (err) {
      rmSync(dir, { recursive: true, force: true })
      throw err
    }
    const key = await generateKey()
    const fleet = new NetnsFleet(dir, lan, {
      operatorId: publicKeyText(key),
      hostPolicies: opts.hostPolicies,
      leaseS: opts.leaseS,
    })
    live.add(fleet)
    writeFileSync(fleet.swarmKey, generateSwarmKey(), { mode: 0o600 })
    savePrivateKey(fleet.operatorKey, key)
    return fleet
  }

  /** Writes a new key file (operator-style Ed25519) and returns its path and public key text. */
  async newKey(name: string): Promise<{ file: string; id: string }> {
    const key = await generateKey()
    const file = join(this.dir, name)
    savePrivateKey(file, key)
    return { file, id: publicKeyText(key) }
  }

  /** Writes a new swarm key file. */
  newSwarmKey(name: string): string {
    const file = join(this.dir, name)
    writeFileSync(file, generateSwarmKey(), { mode: 0o600 })
    return file
  }

  /**
   * Writes a manifest: the fleet's `[fleet]` (dataset `data`, relative to the temp dir), its
   * host policies and `jobs` (TOML `[[jobs]]` text). `operatorKeys` replaces the fleet's key.
   */
  manifest(name: string, jobs = '', opts: { operatorKeys?: readonly string[]; dataset?: string } = {}): string {
    const keys = (opts.operatorKeys ?? [this.setup.operatorId]).map((k) => `"${k}"`).join(', ')
    const text =
      `[fleet]\nname = "e2e"\ndataset = "${opts.dataset ?? 'data'}"\noperator_keys = [${keys}]\n` +
      `lease_s = ${this.setup.leaseS}\n\n${this.setup.hostPolicies}\n${jobs}`
    const file = join(this.dir, name)
    writeFileSync(file, text)
    return file
  }

  /**
   * Starts `cis490-node start` in the host's namespace (mDNS on, no bootstrap, listening
   * on the host's LAN address, API on the namespace's loopback) and waits until it runs.
   * Without `manifest` the node uses the fleet config its data dir saved.
   */
  async start(
    host: string,
    opts: { manifest?: string; args?: string[]; swarmKey?: string; dataDir?: string; logLevel?: string } = {},
  ): Promise<NsNode> {
    const h = this.lan.host(host)
    const dataDir = opts.dataDir ?? join(this.dir, host)
    const args = [
      'netns',
      'exec',
      h.ns,
      // Killed with the test process, even when that dies by SIGKILL (the sweep gets the rest).
      'setpriv',
      '--pdeathsig',
      'KILL',
      process.execPath,
      BIN,
      'start',
      '--data-dir',
      dataDir,
      '--swarm-key',
      opts.swarmKey ?? this.swarmKey,
      '--listen',
      `/ip4/${h.address}/tcp/${P2P_PORT}`,
      '--api',
      API,
      '--hostname',
      host,
      '--log-level',
      opts.logLevel ?? 'info',
      ...(opts.manifest === undefined ? [] : ['--manifest', opts.manifest]),
      ...(opts.args ?? []),
    ]
    // Its own process group: a crash kills the node and its trainers together.
    const proc = spawn('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
    const node: NsNode = { host, dataDir, proc, peerId: '', stderr: '' }
    this.nodes.set(host, node)
    proc.stderr?.setEncoding('utf8')
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`${host} did not start in time:\n${node.stderr.slice(-2000)}`)),
        90_000,
      )
      proc.stderr?.on('data', (chunk: string) => {
        node.stderr += chunk
        if (node.stderr.length > 400_000) node.stderr = node.stderr.slice(-200_000)
        const m = /cis490-node (\S+) is running; API/.exec(node.stderr)
        if (m !== null && node.peerId === '') {
          node.peerId = m[1]
          clearTimeout(timer)
          ready()
        }
      })
      proc.once('exit', (code, signal) => {
        clearTimeout(timer)
        fail(new Error(`${host} exited (${code ?? signal}) before it started:\n${node.stderr.slice(-2000)}`))
      })
    })
    return node
  }

  /** Runs `cis490-node ARGS` inside the host's namespace (the API flag is added for you). */
  cli(host: string, args: readonly string[], opts: { api?: boolean; timeoutMs?: number } = {}): Promise<CliResult> {
    const full = [...args, ...(opts.api === false ? [] : ['--api', API])]
    return run(
      'ip',
      ['netns', 'exec', this.lan.host(host).ns, process.execPath, BIN, ...full],
      opts.timeoutMs ?? 60_000,
    )
  }

  /** `cis490-node ARGS --json` inside the host's namespace, parsed; throws on a non-zero exit. */
  async cliJson<T>(host: string, args: readonly string[]): Promise<T> {
    const r = await this.cli(host, [...args, '--json'])
    if (r.code !== 0) throw new Error(`${host}: cis490-node ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`)
    return JSON.parse(r.stdout) as T
  }

  /**
   * GET a path of the host's API from inside its namespace, by a bare `node -e` fetch
   * (cheaper than a CLI for polling, and no curl needed on the machine).
   */
  async api<T>(host: string, path: string): Promise<T> {
    const r = await run(
      'ip',
      ['netns', 'exec', this.lan.host(host).ns, process.execPath, '-e', GET_SCRIPT, `http://${API}${path}`],
      20_000,
    )
    if (r.code !== 0) throw new Error(`${host} GET ${path}: exited ${r.code}: ${r.stderr.trim()}`)
    return JSON.parse(r.stdout) as T
  }

  /** The jobs each trainer child in the host's namespace is training (from their job files' run dirs). */
  trainingJobs(host: string): string[] {
    const node = this.nodes.get(host)
    if (node === undefined) return []
    const jobs: string[] = []
    for (const pid of nsPids(this.lan.host(host).ns)) {
      let argv: string[]
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      } catch {
        continue
      }
      const i = argv.indexOf('--job-file')
      if (!argv.includes('train') || i < 0) continue
      // DATA_DIR/runs/<job>-g<generation>-r<round>/job.json
      const m = /\/runs\/([0-9a-f]{64})-g\d+-r\d+\/job\.json$/.exec(argv[i + 1] ?? '')
      if (m !== null) jobs.push(m[1])
    }
    return jobs
  }

  /** The run directories (`<job>-g<generation>-r<round>`) in the host's data dir. */
  runDirs(host: string): string[] {
    try {
      return readdirSync(join(this.dir, host, 'runs'))
    } catch {
      return []
    }
  }

  /** SIGKILLs every process of the host (the node and its trainers): a crash. */
  async crash(host: string): Promise<void> {
    const node = this.nodes.get(host)
    if (node === undefined) return
    const exited = exitOf(node.proc)
    try {
      if (node.proc.pid !== undefined) process.kill(-node.proc.pid, 'SIGKILL')
    } catch {}
    this.lan.killAll(host)
    await exited
  }

  /** SIGTERMs the node (a clean stop) and waits until it exits; returns its exit code. */
  async stop(host: string): Promise<number | null> {
    const node = this.nodes.get(host)
    if (node === undefined) return null
    const exited = exitOf(node.proc)
    node.proc.kill('SIGTERM')
    const timer = setTimeout(() => void this.crash(host), 30_000)
    const code = await exited
    clearTimeout(timer)
    return code
  }

  /** Polls `check` until it returns true; throws naming `what` (and the last failure) after `timeoutMs`. */
  async until(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs
    let last = ''
    while (Date.now() < end) {
      try {
        if (await check()) return
        last = ''
      } catch (err) {
        last = (err as Error).message
      }
      await new Promise((r) => setTimeout(r, 500))
    }
    throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last === '' ? '' : `: ${last}`}`)
  }

  /** The end of a node's log, for failure messages. */
  logTail(host: string, lines = 30): string {
    const node = this.nodes.get(host)
    return node === undefined ? '' : node.stderr.split('\n').slice(-lines).join('\n')
  }

  /** Kills every node, deletes the namespaces and the temp dir. */
  async close(): Promise<void> {
    const exits = [...this.nodes.values()].map((n) => exitOf(n.proc))
    this.closeSync()
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 10_000))])
  }

  /** {@link close} without waiting for exit events: for signal and exit handlers. */
  closeSync(): void {
    if (this.closed) return
    this.closed = true
    live.delete(this)
    for (const n of this.nodes.values()) {
      try {
        if (n.proc.pid !== undefined && n.proc.exitCode === null && n.proc.signalCode === null)
          process.kill(-n.proc.pid, 'SIGKILL')
      } catch {}
    }
    this.lan.destroy()
    this.keepLogs()
    rmSync(this.dir, { recursive: true, force: true })
  }

  /** With `CIS490_E2E_LOGS=DIR`, copies every data dir's node.log to `DIR/NAME.log` before the temp dir goes. */
  private keepLogs(): void {
    const to = process.env.CIS490_E2E_LOGS
    if (to === undefined || to === '') return
    try {
      mkdirSync(to, { recursive: true })
      for (const name of readdirSync(this.dir)) {
        const log = join(this.dir, name, 'node.log')
        if (existsSync(log)) copyFileSync(log, join(to, `${name}.log`))
      }
    } catch (err) {
      process.stderr.write(`e2e: could not keep the logs in ${to}: ${(err as Error).message}\n`)
    }
  }
}

function exitOf(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode)
  return new Promise((done) => proc.once('exit', (code) => done(code)))
}

/** Pids of the processes inside a namespace: those whose /proc/PID/ns/net is the namespace's file. */
function nsPids(ns: string): number[] {
  let target: { ino: number; dev: number }
  try {
    target = statSync(`/run/netns/${ns}`)
  } catch {
    return []
  }
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const st = statSync(`/proc/${name}/ns/net`)
      if (st.ino === target.ino && st.dev === target.dev) out.push(Number(name))
    } catch {}
  }
  return out
}

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<CliResult> {
  return new Promise((done) => {
    execFile(
      cmd,
      args,
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
        done({ code, stdout, stderr: stderr || (err !== null && code === null ? err.message : '') })
      },
    )
  })
}
