import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKey, generateSwarmKey, publicKeyText, savePrivateKey } from '../../node/index.ts'
import { plainEnv } from './cli.ts'

const BIN = fileURLToPath(new URL('../../cli/bin.ts', import.meta.url))

/** One `cis490-node start` child process of a test fleet. */
export interface TestNode {
  readonly name: string
  readonly dataDir: string
  proc: ChildProcess
  api: string
  peerId: string
  address: string
  stderr: string
}

export interface FleetFiles {
  readonly dir: string
  readonly swarmKey: string
  readonly operatorKey: string
  readonly operatorId: string
  /** A manifest of `jobs` knn jobs (the fleet config every node starts with). */
  readonly manifest: string
  /** The same [fleet] without jobs, for nodes that never see the manifest. */
  readonly fleetOnly: string
}

/**
 * A fleet of real nodes on loopback (mDNS off, bootstrapped to the first), each a child
 * process with its own data dir, all in one temp dir that `close()` removes after killing
 * every child, also when a test fails.
 */
export class NodeFleet {
  readonly files: FleetFiles
  readonly nodes: TestNode[] = []

  private constructor(files: FleetFiles) {
    this.files = files
  }

  /**
   * @param opts.jobs - how many knn jobs the manifest holds (unless `jobsToml` says the jobs)
   * @param opts.dataset - the manifest's `dataset` (relative to the fleet's temp dir), or a function
   *   that prepares it in the fleet's temp dir and returns it (e.g. a dataset CID)
   */
  static async create(opts: {
    jobs: number
    extraManifest?: string
    dataset?: string | ((dir: string) => Promise<string>)
    jobsToml?: string
  }): Promise<NodeFleet> {
    const dir = mkdtempSync(join(tmpdir(), 'cis490-fleet-'))
    try {
      return await NodeFleet.write(dir, opts)
    } catch (err) {
      rmSync(dir, { recursive: true, force: true })
      throw err
    }
  }

  private static async write(dir: string, opts: Parameters<typeof NodeFleet.create>[0]): Promise<NodeFleet> {
    const swarmKey = join(dir, 'swarm.key')
    writeFileSync(swarmKey, generateSwarmKey(), { mode: 0o600 })
    const key = await generateKey()
    const operatorKey = join(dir, 'operator.key')
    savePrivateKey(operatorKey, key)
    const operatorId = publicKeyText(key)
    const dataset = typeof opts.dataset === 'function' ? await opts.dataset(dir) : (opts.dataset ?? 'no-dataset-here')
    const fleet = `[fleet]\nname = "test"\ndataset = "${dataset}"\noperator_keys = ["${operatorId}"]\nlease_s = 6\n`
    const jobs =
      opts.jobsToml ??
      Array.from(
        { length: opts.jobs },
        (_, i) => `[[jobs]]\nmodel = "knn"\nmode = "realistic"\nseed = ${i}\npriority = ${i % 3}\n`,
      ).join('\n')
    const manifest = join(dir, 'manifest.toml')
    writeFileSync(manifest, `${fleet}${opts.extraManifest ?? ''}\n${jobs}`)
    const fleetOnly = join(dir, 'fleet.toml')
    writeFileSync(fleetOnly, fleet)
    return new NodeFleet({ dir, swarmKey, operatorKey, operatorId, manifest, fleetOnly })
  }

  /**
   * Starts a node and waits until its API answers. The first node bootstraps nobody; the
   * others bootstrap to the first.
   */
  async start(
    name: string,
    opts: {
      args?: string[]
      swarmKey?: string
      bootstrap?: boolean
      /** Bootstrap to these nodes instead of the first one (e.g. a node restarted on a new port). */
      bootstrapTo?: readonly TestNode[]
      dataDir?: string
      timeoutMs?: number
    } = {},
  ): Promise<TestNode> {
    const dataDir = opts.dataDir ?? join(this.files.dir, name)
    const boot =
      opts.bootstrapTo !== undefined
        ? opts.bootstrapTo.flatMap((n) => ['--bootstrap', n.address])
        : opts.bootstrap === false || this.nodes.length === 0
          ? []
          : ['--bootstrap', this.nodes[0].address]
    const args = [
      BIN,
      'start',
      '--data-dir',
      dataDir,
      '--swarm-key',
      opts.swarmKey ?? this.files.swarmKey,
      '--no-mdns',
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--api',
      '127.0.0.1:0',
      '--hostname',
      name,
      '--log-level',
      'info',
      ...boot,
      ...(opts.args ?? ['--manifest', this.files.manifest]),
    ]
    const proc = spawn(process.execPath, args, { env: plainEnv(), stdio: ['ignore', 'ignore', 'pipe'] })
    const node: TestNode = { name, dataDir, proc, api: '', peerId: '', address: '', stderr: '' }
    const existing = this.nodes.findIndex((n) => n.name === name)
    if (existing >= 0) this.nodes[existing] = node
    else this.nodes.push(node)
    proc.stderr?.setEncoding('utf8')
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`${name} did not start in time:\n${node.stderr.slice(-2000)}`)),
        opts.timeoutMs ?? 60_000,
      )
      proc.stderr?.on('data', (chunk: string) => {
        node.stderr += chunk
        if (node.stderr.length > 200_000) node.stderr = node.stderr.slice(-100_000)
        const m = /cis490-node (\S+) is running; API http:\/\/([\d.]+:\d+)/.exec(node.stderr)
        if (m !== null && node.api === '') {
          node.peerId = m[1]
          node.api = m[2]
          clearTimeout(timer)
          ready()
        }
      })
      proc.once('exit', (code) => {
        clearTimeout(timer)
        fail(new Error(`${name} exited with ${code} before it started:\n${node.stderr.slice(-2000)}`))
      })
    })
    const health = (await this.get(node, '/v1/health')) as { addresses: string[] }
    node.address = health.addresses[0]
    return node
  }

  /** GET a path of a node's API, as JSON. */
  async get(node: TestNode, path: string): Promise<unknown> {
    const res = await fetch(`http://${node.api}${path}`, { signal: AbortSignal.timeout(10_000) })
    if (!res.ok) throw new Error(`${node.name} ${path}: HTTP ${res.status} ${await res.text()}`)
    return res.json()
  }

  /**
   * Runs `cis490-node ARGS` as a child process without blocking this process (the nodes' stderr
   * keeps draining meanwhile); killed after `timeoutMs`.
   */
  cli(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<CliRun> {
    return runCli(args, opts)
  }

  /** Polls `check` until it returns true (or throws the last failure after `timeoutMs`). */
  async until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs
    let last = ''
    while (Date.now() < end) {
      try {
        if (await check()) return
      } catch (err) {
        last = (err as Error).message
      }
      await new Promise((r) => setTimeout(r, 250))
    }
    throw new Error(`timed out waiting for ${what}${last === '' ? '' : `: ${last}`}`)
  }

  /** Kills a node at once (no cleanup of its own). */
  async kill(node: TestNode, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (node.proc.exitCode !== null || node.proc.signalCode !== null) return node.proc.exitCode
    const exited = new Promise<number | null>((done) => node.proc.once('exit', (code) => done(code)))
    node.proc.kill(signal)
    return exited
  }

  /** Kills every node and removes the temp dir. */
  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n)))
    rmSync(this.files.dir, { recursive: true, force: true })
  }
}

/** What a `cis490-node` child process printed and how it exited. */
export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `cis490-node ARGS` asynchronously (see {@link NodeFleet.cli}). */
export function runCli(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<CliRun> {
  const proc = spawn(process.execPath, [BIN, ...args], { env: plainEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  const run: CliRun = { code: null, stdout: '', stderr: '' }
  proc.stdout.setEncoding('utf8').on('data', (c: string) => {
    run.stdout += c
  })
  proc.stderr.setEncoding('utf8').on('data', (c: string) => {
    run.stderr += c
  })
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
  return new Promise((done, fail) => {
    proc.once('error', (err) => {
      clearTimeout(timer)
      fail(err)
    })
    proc.once('close', (code) => {
      clearTimeout(timer)
      run.code = code
      done(run)
    })
  })
}

/** The `jobs --json` rows of a node, reduced to what every peer must agree on. */
export function tableKey(jobs: unknown): string {
  const rows = (jobs as { id: string; status: string; generation: number; priority: number }[]).map(
    (j) => `${j.id}:${j.status}:${j.generation}:${j.priority}`,
  )
  return rows.sort().join('\n')
}
