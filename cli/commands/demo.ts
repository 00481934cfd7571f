import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml'
import { keySigner, manifestRecords } from '../../crdt/index.ts'
import { loadManifest, shortId } from '../../manifests/index.ts'
import type { JobDetailJson, JobJson, ResultJson, SubmitResult, WorkerJson } from '../../node/api/index.ts'
import { RunError } from '../errors.ts'
import { ApiClient } from './api-client.ts'
import { DemoFleet, type DemoNode, freeLoopbackPorts } from './demo-fleet.ts'
import { allTerminal, LiveJobView, leaderboardText, type TextOut } from './demo-view.ts'

/** The demo's manifest, shipped with the package. */
export const DEMO_MANIFEST = fileURLToPath(new URL('../../manifests/demo.toml', import.meta.url))

/** The synthetic dataset the demo trains on: small enough for seconds per job, with a held-out host. */
export const DEMO_DATASET = {
  hosts: ['elliott-thinkpad', 'k-gamingcom', 'lab-desktop'],
  episodes: 80,
  windows: 16,
  features: 40,
  realisticFeatures: 24,
  classes: 4,
  seed: 0,
  format: 'csv',
  name: 'demo',
} as const

/** The demo's peers: the first is the store peer and holds the operator key. */
const PEERS = ['alpha', 'beta', 'gamma'] as const

const POLL_MS = 500
const PEERS_TIMEOUT_MS = 60_000
const JOBS_TIMEOUT_MS = 600_000
const STORE_TIMEOUT_MS = 60_000
/** How long no job may be claimed or running before the pending ones are asked why. */
const STUCK_MS = 15_000

interface DemoFlags {
  keep?: boolean
  json?: boolean
}

/** One job as `demo --json` reports it: the API's row plus the host of every attempt. */
interface DemoJobJson extends JobJson {
  attempts: { generation: number; attempt: number; host: string; outcome: string }[]
}

/** Raised (as the abort reason) when SIGINT or SIGTERM stops the demo. */
class DemoInterrupted extends Error {
  override name = 'DemoInterrupted'
  readonly signal: string
  constructor(signal: string) {
    super(`interrupted by ${signal}`)
    this.signal = signal
  }
}

/** A job no peer can run: the demo stops at once instead of waiting for its timeout. */
class DemoStuckError extends RunError {
  override name = 'DemoStuckError'
}

/** Registers `demo`: a local fleet of three peers training the demo manifest end to end. */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a local demo fleet: 3 peers on loopback train manifests/demo.toml, then show the leaderboard')
    .addHelpText(
      'after',
      [
        '',
        'Starts three `cis490-node start` peers as child processes on 127.0.0.1 (mDNS off, each',
        'bootstrapped to the others, data dirs in one temp dir, a fresh swarm key and operator key;',
        'alpha is the store peer and holds the operator key), writes a small synthetic dataset,',
        'reloads manifests/demo.toml (five models in both feature modes; host gamma denies gru),',
        'shows the job table as it changes (redrawn on a terminal, one line per change otherwise),',
        'and ends with the leaderboard (val vs test macro F1 per model and mode) and the bundles.',
        'Without --keep it then stops the peers and removes the temp dir; Ctrl-C does the same at',
        'any moment. `npm start` runs it. Exit 0 when every job completed; 1 when one failed, when',
        'one cannot run on any peer (e.g. no XGBoost library for gbt), or on Ctrl-C/SIGTERM.',
      ].join('\n'),
    )
    .option('--keep', 'leave the fleet running after the jobs finish (dashboard URLs printed) until Ctrl-C')
    .option('--json', 'print one JSON object {seconds, nodes, jobs, results, bundles} on stdout; the rest on stderr')
    .action(async (flags: DemoFlags) => {
      const json = flags.json === true
      const out: TextOut & { isTTY?: boolean; columns?: number } = json ? process.stderr : process.stdout
      const fleet = new DemoFleet()
      const controller = new AbortController()
      let signals = 0
      const onSignal = (sig: NodeJS.Signals) => {
        signals++
        if (signals > 1) {
          out.write(`received ${sig} again: killing the fleet now\n`)
          fleet.killNow()
          process.exit(1)
        }
        out.write(`\nreceived ${sig}: stopping the fleet and removing ${fleet.dir}\n`)
        controller.abort(new DemoInterrupted(sig))
      }
      const onExit = () => fleet.killNow()
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      process.on('exit', onExit)
      let finished = false
      let failed: string[] = []
      try {
        const report = await runDemo(fleet, out, {
          tty: out.isTTY === true,
          columns: () => out.columns,
          keep: flags.keep === true,
          signal: controller.signal,
        })
        finished = true
        failed = report.jobs.filter((j) => j.status !== 'completed').map((j) => `${j.model} ${j.mode} (${j.status})`)
        if (json) process.stdout.write(`${JSON.stringify(report)}\n`)
        if (flags.keep === true) {
          out.write('\nThe fleet keeps running. Dashboards:\n')
          for (const n of fleet.nodes) out.write(`  http://${n.api}/   ${n.name}${n.store ? ' (store)' : ''}\n`)
          out.write(`Ctrl-C stops the peers and removes ${fleet.dir}\n`)
          await new Promise<void>((done) => controller.signal.addEventListener('abort', () => done(), { once: true }))
        }
      } catch (err) {
        if (!(controller.signal.aborted && controller.signal.reason === err)) throw err
      } finally {
        const t0 = performance.now()
        await fleet.stop()
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        process.off('exit', onExit)
        out.write(`stopped the fleet and removed ${fleet.dir} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`)
      }
      if (controller.signal.aborted && !finished) {
        throw new RunError(`demo ${(controller.signal.reason as DemoInterrupted).message}; the fleet was stopped`)
      }
      if (failed.length > 0)
        throw new RunError(
          `${failed.length} demo job(s) did not complete: ${failed.join(', ')} (their errors are in the job lines above)`,
        )
    })
}

/** The per-run manifest: demo.toml with the fresh operator key and the generated dataset. */
function perRunManifest(operatorId: string, datasetDir: string): { full: string; fleetOnly: string } {
  const tables = parseToml(readFileSync(DEMO_MANIFEST, 'utf8')) as Record<string, unknown> & {
    fleet: Record<string, unknown>
  }
  tables.fleet = { ...tables.fleet, operator_keys: [operatorId], dataset: datasetDir }
  const { jobs: _jobs, ...fleetOnly } = tables
  const header = `# written by cis490-node demo from ${DEMO_MANIFEST}\n`
  return { full: header + stringifyToml(tables), fleetOnly: header + stringifyToml(fleetOnly) }
}

async function runDemo(
  fleet: DemoFleet,
  out: TextOut,
  opts: { tty: boolean; columns: () => number | undefined; keep: boolean; signal: AbortSignal },
) {
  const started = Date.now()
  const { signal } = opts
  const secs = () => `${((Date.now() - started) / 1000).toFixed(1)} s`
  const [{ generateKey, generateSwarmKey, publicKeyText, savePrivateKey }, { synthesizeDataset }] = await Promise.all([
    import('../../node/index.ts'),
    import('../../models/dataset/index.ts'),
  ])
  out.write(`cis490-node demo: 3 peers on 127.0.0.1, files in ${fleet.dir}\n`)

  const swarmKey = fleet.writeFile('swarm.key', generateSwarmKey())
  const operator = await generateKey()
  const operatorKey = join(fleet.dir, 'operator.key')
  savePrivateKey(operatorKey, operator)
  const operatorId = publicKeyText(operator)

  const dataDir = join(fleet.dir, 'dataset')
  const data = await synthesizeDataset(dataDir, DEMO_DATASET)
  out.write(
    `dataset: ${data.rows} windows (${data.hosts.length} hosts x ${data.episodesPerHost} episodes x ${data.windows} ` +
      `windows), ${data.features.length} features, ${data.classes.length} classes (cis490-node dataset synth)\n`,
  )
  const manifests = perRunManifest(operatorId, dataDir)
  const manifestFile = fleet.writeFile('demo.toml', manifests.full, 0o644)
  const fleetFile = fleet.writeFile('fleet.toml', manifests.fleetOnly, 0o644)
  const manifest = loadManifest(manifestFile)

  const ports = await freeLoopbackPorts(PEERS.length)
  const nodes: DemoNode[] = []
  for (const [i, name] of PEERS.entries()) nodes.push(await fleet.prepareNode(name, ports[i], { store: i === 0 }))
  await Promise.all(
    nodes.map((n, i) =>
      fleet.startNode(
        n,
        [
          ...['--data-dir', n.dataDir, '--swarm-key', swarmKey, '--manifest', fleetFile, '--hostname', n.name],
          ...['--no-mdns', '--listen', `/ip4/127.0.0.1/tcp/${ports[i]}`, '--api', '127.0.0.1:0', '--log-level', 'info'],
          ...nodes.filter((o) => o !== n).flatMap((o) => ['--bootstrap', o.address]),
          ...(n.store ? ['--store', '--operator-key', operatorKey] : []),
        ],
        { signal },
      ),
    ),
  )
  for (const n of nodes)
    out.write(
      `started ${n.name.padEnd(5)} pid ${n.proc?.pid}  API http://${n.api}  ${n.store ? 'store peer, operator key' : ''}\n`.trimEnd() +
        '\n',
    )
  const apis = new Map(nodes.map((n) => [n.name, new ApiClient(`http://${n.api}`)]))
  const api = (n: DemoNode) => apis.get(n.name) as ApiClient
  const store = nodes[0]

  await until('the peers to connect to each other', PEERS_TIMEOUT_MS, signal, nodes, async () => {
    const views = await Promise.all(nodes.map((n) => api(n).get<WorkerJson[]>('/v1/workers', { signal })))
    return views.every((workers, i) =>
      nodes.every((o, j) => i === j || workers.some((w) => w.peer_id === o.peerId && w.reachable)),
    )
  })
  out.write(`peers connected after ${secs()}; reloading manifests/demo.toml (${manifest.jobs.length} jobs)\n`)
  const { records } = manifestRecords(keySigner(operator), manifest, [], Date.now())
  const submitted = await api(store).post<SubmitResult>(
    '/v1/ops',
    { records: records.map((r) => Buffer.from(r).toString('base64')) },
    { signal },
  )
  if (submitted.rejected.length > 0)
    throw new RunError(`the store peer refused the demo's jobs: ${submitted.rejected.map((r) => r.reason).join('; ')}`)

  const view = new LiveJobView(out, { tty: opts.tty, started, columns: opts.columns })
  let jobs: JobJson[] = []
  let busySince = Date.now()
  await until('every job to finish', JOBS_TIMEOUT_MS, signal, nodes, async () => {
    jobs = await api(store).get<JobJson[]>('/v1/jobs', { signal })
    view.update(jobs, nodes.length)
    if (jobs.some((j) => j.status === 'claimed' || j.status === 'running')) busySince = Date.now()
    else if (Date.now() - busySince > STUCK_MS) await failIfStuck(api(store), jobs, signal)
    return jobs.length === manifest.jobs.length && allTerminal(jobs)
  })
  const completed = jobs.filter((j) => j.status === 'completed').length
  out.write(`all ${jobs.length} jobs finished after ${secs()}: ${completed} completed\n`)
  for (const j of jobs.filter((x) => x.status === 'failed'))
    out.write(`  ${shortId(j.id)} ${j.model} ${j.mode} failed: ${j.error ?? 'unknown error'}\n`)

  const results = await api(store).get<ResultJson[]>('/v1/results', { signal })
  const testHosts = [...new Set(manifest.jobs.flatMap((j) => j.split.test_hosts ?? []))].join(', ')
  out.write(`\nResults, best validation macro F1 first:\n\n${leaderboardText(results, testHosts)}\n`)

  const index = join(store.dataDir, 'bundles', 'index.jsonl')
  let bundles: { job: string; cid: string; bytes: number; host: string }[] = []
  const wanted = new Set(results.map((r) => r.bundle).filter((b) => b !== null))
  await until('the store peer to pin every bundle', STORE_TIMEOUT_MS, signal, nodes, async () => {
    bundles = readIndex(index)
    return [...wanted].every((cid) => bundles.some((b) => b.cid === cid))
  }).catch((err) => {
    if (signal.aborted) throw err
    out.write(`note: ${(err as Error).message}\n`)
  })
  out.write(
    `Bundles: the store peer ${store.name} pinned ${bundles.length}, one line each in ${index}` +
      `${opts.keep ? '' : ' (removed when the demo ends)'}\n`,
  )
  const example = results.find((r) => r.bundle !== null)
  if (example !== undefined)
    out.write(
      `Fetch one${opts.keep ? '' : ' (while the fleet runs: `npm start -- --keep`)'}:\n` +
        `  cis490-node fetch ${example.bundle} --out ./${example.model}-${example.mode} --api ${store.api}\n`,
    )

  const detailed: DemoJobJson[] = await Promise.all(
    jobs.map(async (j) => {
      const d = await api(store).get<JobDetailJson>(`/v1/jobs/${j.id}`, { signal })
      return {
        ...j,
        attempts: d.attempts.map((a) => ({
          generation: a.generation,
          attempt: a.attempt,
          host: a.host,
          outcome: a.outcome,
        })),
      }
    }),
  )
  return {
    seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
    dir: fleet.dir,
    nodes: nodes.map((n) => ({
      name: n.name,
      peer_id: n.peerId,
      api: n.api,
      pid: n.proc?.pid ?? null,
      store: n.store,
    })),
    host_policies: Object.fromEntries(manifest.hosts),
    jobs: detailed,
    results,
    bundles,
  }
}

/**
 * Fails when a pending job can run on none of the peers (e.g. XGBoost's library is missing).
 * @throws RunError naming each such job and why, with what to install.
 */
async function failIfStuck(api: ApiClient, jobs: readonly JobJson[], signal: AbortSignal): Promise<void> {
  const pending = jobs.filter((j) => j.status === 'pending')
  const details = await Promise.all(pending.map((j) => api.get<JobDetailJson>(`/v1/jobs/${j.id}`, { signal })))
  const stuck = details.filter((d) => d.waiting?.startsWith('no live peer may run it') === true)
  if (stuck.length === 0) return
  const lines = stuck.map((d) => `  ${shortId(d.id)} ${d.model} ${d.mode}: ${d.waiting}`)
  const hint = stuck.some((d) => /xgboost/.test(d.waiting ?? ''))
    ? "\n(gbt needs XGBoost's shared library: apt-get install libxgboost0, or set XGBOOST_LIBRARY)"
    : ''
  throw new DemoStuckError(`${stuck.length} demo job(s) cannot run on any peer:\n${lines.join('\n')}${hint}`)
}

function readIndex(file: string): { job: string; cid: string; bytes: number; host: string }[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l)]
      } catch {
        return [] // a line being appended
      }
    })
}

/**
 * Polls `check` every POLL_MS until it returns true.
 * @throws RunError naming `what` (and the last failure) after `timeoutMs`, or when a node
 * exits; the abort reason when `signal` aborts.
 */
async function until(
  what: string,
  timeoutMs: number,
  signal: AbortSignal,
  nodes: readonly DemoNode[],
  check: () => Promise<boolean>,
): Promise<void> {
  const end = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    signal.throwIfAborted()
    const dead = nodes.find((n) => n.proc !== null && (n.proc.exitCode !== null || n.proc.signalCode !== null))
    if (dead !== undefined) {
      const tail = dead.stderrTail.trim().split('\n').slice(-6).join('\n')
      throw new RunError(`demo node ${dead.name} exited while waiting for ${what}:\n${tail}`)
    }
    try {
      if (await check()) return
    } catch (err) {
      if (signal.aborted) throw signal.reason
      if (err instanceof DemoStuckError) throw err
      last = (err as Error).message
    }
    if (Date.now() > end)
      throw new RunError(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last === '' ? '' : `: ${last}`}`)
    await sleep(POLL_MS, undefined, { signal }).catch(() => {
      throw signal.reason
    })
  }
}
