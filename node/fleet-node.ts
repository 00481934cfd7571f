import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import {
  decodeRecord,
  keySigner,
  manifestRecords,
  OPERATOR_RECORD_TYPES,
  type Signer,
  type TrustConfig,
  type VerifiedRecord,
} from '../crdt/index.ts'
import { datasetCid } from '../manifests/index.ts'
import { ApiServer, type BlockView, type FleetView, runFilesView, type WorkerInfo } from './api/index.ts'
import { BlockService } from './blocks/index.ts'
import { detectHost, type HostReport } from './capability.ts'
import { fleetToml, type NodeConfig } from './config.ts'
import { NodeConfigError, NodeStartError } from './errors.ts'
import { generateKey, loadPrivateKey, loadSwarmKey, publicKeyText, savePrivateKey, writeFileAtomic } from './keys.ts'
import { type MetricSources, NodeMetrics } from './metrics/index.ts'
import { FleetNet } from './net/index.ts'
import { DEFAULT_PEER_INIT, PeerCore, type PeerEffect, type SubmitResult } from './peer/index.ts'
import { capabilityScore, type RoundRef, type RunOutcome } from './scheduler/index.ts'
import { FileDocumentStore } from './store/index.ts'
import { decodeMessage, encodeMessage } from './sync/index.ts'
import { DatasetCache } from './worker/dataset-cache.ts'
import { FetchTracker } from './worker/fetch-tracker.ts'
import { ProcessTrainer } from './worker/process-trainer.ts'
import { StorePeer } from './worker/store-peer.ts'

const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url))
const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version

/**
 * One running peer of the fleet: the peer core with real components around it (the
 * clock, gossipsub and a direct stream protocol over a private libp2p network, a file
 * document store, trainers as child processes) and the loopback HTTP API.
 *
 * @remarks Every effect of the core runs through one serial queue, in order: a write is
 * durable before anything sent after it, a start record before its trainer. Inputs (peer
 * messages, connections, trainer exits, the wake-up timer, API submissions) call the core
 * synchronously; the core never waits for I/O.
 */
export class FleetNode {
  readonly config: NodeConfig
  private readonly log: Logger
  private core: PeerCore | null = null
  private net: FleetNet | null = null
  private api: ApiServer | null = null
  private store: FileDocumentStore | null = null
  private trainer: ProcessTrainer | null = null
  private blocks: BlockService | null = null
  private metrics: NodeMetrics | null = null
  private storePeer: StorePeer | null = null
  private fetches: FetchTracker | null = null
  private dataset: DatasetCache | null = null
  private timer: NodeJS.Timeout | null = null
  private queue: Promise<void> = Promise.resolve()
  private host: HostReport | null = null
  private operator: Signer | null = null
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new'
  private persistFailed = false

  constructor(components: { logger: Logger }, config: NodeConfig) {
    this.log = components.logger
    this.config = config
  }

  /** This peer's id (after `start`). */
  get peerId(): string {
    return this.net?.peerId ?? ''
  }

  /** The API's bound address (after `start`). */
  get apiAddress(): { host: string; port: number } | null {
    return this.api?.address() ?? null
  }

  /** Starts every part; a failed start stops what it began and rethrows. */
  async start(): Promise<void> {
    if (this.state !== 'new') return
    this.state = 'starting'
    try {
      await this.startParts()
      this.state = 'running'
    } catch (err) {
      await this.stopParts()
      this.state = 'stopped'
      throw err
    }
  }

  private async startParts(): Promise<void> {
    const cfg = this.config
    mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 })
    const swarmKey = this.swarmKey()
    const privateKey = await this.peerKey()
    if (cfg.operatorKeyFile !== null) {
      this.operator = keySigner(loadPrivateKey(cfg.operatorKeyFile))
      if (!cfg.fleet.operator_keys.includes(this.operator.id))
        throw new NodeConfigError(
          `--operator-key: ${cfg.operatorKeyFile} holds ${this.operator.id}, which is not in the fleet's operator_keys`,
        )
    }
    writeFileAtomic(join(cfg.dataDir, 'fleet.toml'), fleetToml(cfg), 0o600)
    this.host = await detectHost(cfg.hostname)
    const datasetDir = this.datasetDir()
    const datasetByCid = datasetCid(cfg.fleet.dataset)
    this.trainer = new ProcessTrainer(
      {
        logger: this.log.child({ part: 'node:worker' }),
        onExit: (ref, outcome, bundleDir) => void this.finishRun(ref, outcome, bundleDir),
        onRunEnded: (run) => this.metrics?.runEnded(run),
      },
      {
        runsDir: join(cfg.dataDir, 'runs'),
        // a dataset given by CID is fetched (once) before the first run that needs it
        datasetDir: datasetByCid !== null ? (signal) => this.fleetDataset(signal) : (datasetDir ?? ''),
        command: [process.execPath, join(PACKAGE_ROOT, 'cli', 'bin.ts')],
      },
    )
    const reaped = await this.trainer.reapOrphans()
    if (reaped > 0) this.log.warn({ reaped }, 'killed trainers left by a crash')

    this.store = new FileDocumentStore(join(cfg.dataDir, 'table'))
    await this.store.open()
    const stored = await this.store.load()
    if (stored.skipped > 0) this.log.warn({ skipped: stored.skipped }, 'skipped torn or garbage entries of the table')

    this.net = new FleetNet(
      { logger: this.log.child({ part: 'node:net' }) },
      {
        privateKey,
        swarmKey,
        fleet: cfg.fleet.name,
        listen: [...cfg.listen],
        bootstrap: [...cfg.bootstrap],
        mdns: cfg.mdns,
      },
    )
    // Gossip that does not decode is rejected at the edge (its sender's score drops).
    this.net.setGossipValidator((_from, bytes) => (decodeMessage(bytes) === null ? 'reject' : 'accept'))
    const signer = keySigner(privateKey)
    this.metrics = new NodeMetrics({ selfId: signer.id, sources: this.metricSources() })
    const counting = this.metrics.peerObserver
    const trust: TrustConfig = { operatorKeys: new Set(cfg.fleet.operator_keys), hosts: cfg.hosts }
    const syncLog = this.log.child({ part: 'node:sync' })
    this.core = new PeerCore(
      {
        clock: { now: () => Date.now() },
        random: Math.random,
        signer,
        capability: this.host.capability,
        trust,
        actor: randomBytes(16).toString('hex'),
        effects: (effects) => this.enqueue(effects),
        canTrain: datasetDir !== null || datasetByCid !== null,
        status: { store: cfg.store, version: VERSION },
        observer: {
          derived: (jobs) => {
            counting.derived(jobs)
            this.storePeer?.offer(jobs)
          },
          wrote: (a, bytes) => {
            counting.wrote(a, bytes)
            if (a.type !== 'renew') syncLog.info({ job: a.job.slice(0, 12), g: a.generation, r: a.round }, a.type)
          },
          stopped: (ref, reason) => syncLog.info({ job: ref.job.slice(0, 12), reason }, 'stop'),
          dropped: (from, reason) => syncLog.debug({ from, reason }, 'dropped a message'),
        },
      },
      {
        ...DEFAULT_PEER_INIT,
        leaseMs: cfg.fleet.lease_s * 1000,
        renewMs: Math.max(1000, (cfg.fleet.lease_s * 1000) / 3),
      },
      stored.chunks,
    )
    // Chunks Automerge could not load: damaged, or a table of another layout (cis490-node
    // before the sharded log wrote layout 1, which this version cannot read).
    const unloaded = this.core.stats.replica.badInputs
    if (unloaded > 0)
      this.log.warn(
        { chunks: unloaded, dir: join(cfg.dataDir, 'table') },
        'some of the stored job table could not be loaded (damaged, or written by an older cis490-node): this node goes on with the rest and catches up from its peers',
      )
    if (datasetDir === null && datasetByCid === null)
      this.log.warn(
        { dataset: cfg.fleet.dataset },
        'the fleet dataset is not on this host: this node holds and serves the table but claims no jobs',
      )
    const net = this.net
    net.addEventListener('gossip', (e) => this.input((core) => core.receive(e.detail.from, e.detail.bytes)))
    net.addEventListener('message', (e) => this.input((core) => core.receive(e.detail.from, e.detail.bytes)))
    net.addEventListener('peer:connect', (e) => this.input((core) => core.connected(e.detail.peer)))
    net.addEventListener('peer:disconnect', (e) => this.input((core) => core.disconnected(e.detail.peer)))
    try {
      await net.start()
    } catch (err) {
      throw new NodeStartError(`cannot start the network on ${cfg.listen.join(', ')}: ${(err as Error).message}`)
    }
    // Bundles travel as UnixFS blocks over bitswap on the same libp2p host.
    this.blocks = new BlockService(
      { libp2p: net.libp2p, logger: this.log.child({ part: 'node:blocks' }) },
      {
        dir: join(cfg.dataDir, 'blocks'),
      },
    )
    await this.blocks.start()
    this.fetches = new FetchTracker({ blocks: this.blocks, logger: this.log.child({ part: 'node:fetch' }) })
    if (datasetByCid !== null) {
      this.dataset = new DatasetCache(
        { blocks: this.blocks, logger: this.log.child({ part: 'node:dataset' }) },
        { cid: datasetByCid, dir: join(cfg.dataDir, 'datasets') },
      )
    }
    if (cfg.store) {
      this.storePeer = new StorePeer(
        { blocks: this.blocks, logger: this.log.child({ part: 'node:store' }) },
        { indexFile: join(cfg.dataDir, 'bundles', 'index.jsonl'), selfId: net.peerId },
      )
      await this.storePeer.start()
      this.storePeer.offer(this.core.jobs())
    }
    this.api = new ApiServer(
      {
        view: this.view(),
        blocks: this.blockView(),
        metrics: this.metrics,
        logger: this.log.child({ part: 'node:api' }),
      },
      { host: cfg.api.host, port: cfg.api.port },
    )
    try {
      await this.api.start()
    } catch (err) {
      throw new NodeStartError(
        `cannot serve the API on ${cfg.api.host}:${cfg.api.port}: ${(err as Error).message} (another node running? pass --api HOST:PORT)`,
      )
    }
    this.schedule()
    // fetch the fleet dataset now rather than at the first claim (runs wait for this same fetch)
    this.dataset
      ?.ready()
      .catch((err) => this.log.warn({ err: (err as Error).message }, 'fleet dataset not fetched yet'))
    this.log.info(
      {
        peer: net.peerId,
        addresses: net.addresses(),
        api: this.api.address(),
        fleet: cfg.fleet.name,
        hostname: cfg.hostname,
        capability: this.host.capability,
        store: cfg.store,
        jobs: this.core.jobs().length,
      },
      'node started',
    )
    if (this.operator !== null && cfg.manifest !== null) {
      const { records } = manifestRecords(this.operator, cfg.manifest, [], Date.now())
      const r = this.core.submit(records)
      this.log.info(
        { manifest: cfg.manifestFile, ...r, rejected: r.rejected.length },
        'loaded the manifest as its operator',
      )
      this.schedule()
    }
  }

  /**
   * A run ended: a bundle is imported into the block store (its CID must be the one the
   * trainer reported) and pinned before the core records the result.
   */
  private async finishRun(ref: RoundRef, outcome: RunOutcome, bundleDir: string | null): Promise<void> {
    let result = outcome
    if (outcome.ok && bundleDir !== null && this.blocks !== null) {
      try {
        const imported = await this.blocks.importDirectory(bundleDir)
        if (imported.cid !== outcome.bundle)
          result = {
            ok: false,
            error: `bundle CID mismatch: the trainer said ${outcome.bundle}, the files give ${imported.cid}`,
          }
        else await this.blocks.pin(imported.cid)
      } catch (err) {
        result = { ok: false, error: `could not store the bundle: ${(err as Error).message}` }
      }
    }
    this.input((core) => core.runExited(ref, result))
  }

  /** The fleet dataset given by CID, fetched from the fleet (store peers asked first) and cached. */
  private fleetDataset(signal: AbortSignal): Promise<string> {
    if (this.dataset === null) return Promise.reject(new Error('the block service is not running'))
    const stores = this.workers()
      .filter((w) => w.store && w.reachable && w.peer_id !== this.peerId)
      .map((w) => w.peer_id)
    return this.dataset.ready({ signal, providers: stores })
  }

  /** The block store as the API's `/v1/fetch`, `/v1/blocks` and `/v1/pins` use it. */
  private blockView(): BlockView {
    const blocks = () => {
      if (this.blocks === null || this.fetches === null) throw new Error('the block service is not running')
      return { blocks: this.blocks, fetches: this.fetches }
    }
    return {
      fetch: (cid, options) => blocks().fetches.start(cid, options),
      fetchStatus: (cid) => blocks().fetches.status(cid),
      block: (cid) => blocks().blocks.getBlock(cid),
      putBlock: (cid, bytes) => blocks().blocks.putBlock(cid, bytes),
      pin: (cid) => blocks().blocks.pin(cid),
    }
  }

  /** The fleet dataset's directory on this host, or null when it is not here (or is a CID). */
  private datasetDir(): string | null {
    const d = this.config.fleet.dataset
    if (datasetCid(d) !== null) return null
    const dir = isAbsolute(d) ? d : resolve(this.config.datasetBase, d)
    try {
      return statSync(dir).isDirectory() && existsSync(join(dir, 'dataset.toml')) ? dir : null
    } catch {
      return null
    }
  }

  private swarmKey(): Uint8Array {
    const file = this.config.swarmKeyFile
    if (!existsSync(file))
      throw new NodeConfigError(
        `no swarm key at ${file}: create one with \`cis490-node keygen --swarm --out ${file}\` and copy it to every host (or pass --swarm-key FILE)`,
      )
    return loadSwarmKey(file)
  }

  private async peerKey(): Promise<Ed25519PrivateKey> {
    const file = join(this.config.dataDir, 'peer.key')
    if (existsSync(file)) return loadPrivateKey(file)
    const key = await generateKey()
    savePrivateKey(file, key)
    this.log.info({ peer: publicKeyText(key), file }, 'created the peer key')
    return key
  }

  // ---- the core's inputs and effects ----------------------------------------------------

  /** Calls the core with an input, then re-arms the wake-up timer. Never throws. */
  private input(call: (core: PeerCore) => void): void {
    const core = this.core
    if (core === null || this.state === 'stopped') return
    try {
      call(core)
    } catch (err) {
      this.log.error({ err }, 'the peer core failed on an input')
    }
    this.schedule()
  }

  private schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    const core = this.core
    if (core === null || this.state === 'stopping' || this.state === 'stopped') return
    const wake = core.wakeAt
    if (!Number.isFinite(wake)) return
    const delay = Math.min(2 ** 31 - 1, Math.max(0, Math.ceil(wake - Date.now())))
    this.timer = setTimeout(() => {
      this.timer = null
      this.input((c) => c.tick())
    }, delay)
  }

  private enqueue(effects: readonly PeerEffect[]): void {
    this.queue = this.queue.then(() => this.apply(effects)).catch((err) => this.log.error({ err }, 'effect failed'))
  }

  private async apply(effects: readonly PeerEffect[]): Promise<void> {
    for (const e of effects) {
      switch (e.type) {
        case 'persist':
        case 'compact':
          try {
            if (e.type === 'persist') await this.store?.append(e.chunk)
            else await this.store?.compact(e.snapshot)
          } catch (err) {
            // Nothing after an unpersisted write may go out: it could announce what a crash loses.
            this.persistFailed = true
            this.log.fatal({ err }, 'cannot persist the job table: this node stops')
            void this.stop().then(() => process.exit(1))
            return
          }
          break
        case 'send':
          this.net?.send(e.to, encodeMessage(e.msg))
          break
        case 'broadcast':
          this.net?.publish(encodeMessage(e.msg))
          break
        case 'start-run':
          if (!this.persistFailed) this.trainer?.start(e.run)
          break
        case 'stop-run':
          this.trainer?.stop(e.ref)
          break
        case 'penalise':
          this.net?.penalise(e.peer, e.reason)
          break
      }
    }
  }

  /** What the metrics read at each scrape (`/metrics`). */
  private metricSources(): MetricSources {
    return {
      jobs: () => this.core?.jobs() ?? [],
      core: () => this.core?.stats ?? null,
      net: () => this.net?.stats() ?? null,
      blocks: () => this.blocks?.stats() ?? null,
      lapsed: () => this.core?.table.lapsed() ?? [],
    }
  }

  // ---- the API's view ---------------------------------------------------------------------

  private view(): FleetView {
    const cfg = this.config
    return {
      health: () => ({
        ok: this.state === 'running',
        peer_id: this.peerId,
        addresses: this.net?.addresses() ?? [],
        fleet: cfg.fleet.name,
        version: VERSION,
      }),
      jobs: () => this.core?.jobs() ?? [],
      records: (jobId) => {
        const out: VerifiedRecord[] = []
        for (const bytes of this.core?.table.recordsOf(jobId) ?? []) {
          const v = decodeRecord(bytes)
          if (v === null) continue
          if (OPERATOR_RECORD_TYPES.has(v.record.t) && !cfg.fleet.operator_keys.includes(v.record.by)) continue
          out.push(v)
        }
        return out
      },
      workers: () => this.workers(),
      hostPolicies: () => cfg.hosts,
      runFiles: runFilesView(
        join(cfg.dataDir, 'runs'),
        async (cid) => this.blocks?.getBlock(cid).catch(() => null) ?? null,
      ),
      submit: (records) => {
        const core = this.core
        if (core === null || this.state !== 'running')
          return { accepted: 0, unchanged: 0, rejected: [{ index: 0, reason: 'the node is not running' }] }
        const r: SubmitResult = core.submit(records)
        this.schedule()
        return { accepted: r.accepted, unchanged: r.unchanged, rejected: [...r.rejected] }
      },
    }
  }

  private workers(): WorkerInfo[] {
    const core = this.core
    if (core === null) return []
    const connected = new Set(core.connectedPeers)
    const now = Date.now()
    return core.knownPeers().map((p) => ({
      peer_id: p.peerId,
      hostname: p.status.capability.hostname,
      score: capabilityScore(p.status.capability, { model: 'knn', prefer_cuda: false, require_cuda: false }),
      capability: p.status.capability,
      last_seen: p.peerId === core.id ? now : p.lastSeen,
      running: [...p.status.running],
      reachable: p.peerId === core.id || connected.has(p.peerId),
      store: p.status.store,
      trains: p.status.trains,
    }))
  }

  // ---- stopping -----------------------------------------------------------------------------

  /**
   * Stops cleanly: gives back every claim and run (so that another peer can take them at
   * once), stops the trainers, flushes the table to disk and the releases to the fleet.
   * Idempotent.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return
    this.state = 'stopping'
    if (this.timer !== null) clearTimeout(this.timer)
    try {
      this.core?.shutdown()
    } catch (err) {
      this.log.error({ err }, 'shutdown of the peer core failed')
    }
    await this.stopParts()
    this.state = 'stopped'
  }

  private async stopParts(): Promise<void> {
    await this.trainer?.stopAll().catch((err) => this.log.error({ err }, 'stopping trainers failed'))
    await this.queue
    this.fetches?.stop()
    this.dataset?.stop()
    await this.storePeer?.stop().catch((err) => this.log.error({ err }, 'stopping the store peer failed'))
    await this.blocks?.stop().catch((err) => this.log.error({ err }, 'stopping the block service failed'))
    // Give gossip a moment to carry the releases before the connections close.
    if (this.net !== null && this.core !== null) await new Promise((r) => setTimeout(r, 300))
    await this.api?.stop().catch((err) => this.log.error({ err }, 'stopping the API failed'))
    await this.net?.stop().catch((err) => this.log.error({ err }, 'stopping the network failed'))
    await this.store?.close().catch((err) => this.log.error({ err }, 'closing the store failed'))
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }
}

/**
 * Builds and starts this host's node from its resolved config: the one place the parts
 * (peer core, network, store, trainer, API) are wired together.
 * @throws NodeConfigError / NodeStartError naming what is wrong; nothing is left running.
 */
export async function createNode(config: NodeConfig, components: { logger: Logger }): Promise<FleetNode> {
  const node = new FleetNode(components, config)
  await node.start()
  return node
}
