/**
 * A 200 MB bundle between two local peers, each in its own process: bitswap through the
 * private network (FleetNet: pnet with its SIMD cipher + Noise + Yamux), the same through stock
 * pnet's cipher (the `xsalsa20` package, writes cut to 64 KiB: FleetNet before its own cipher,
 * on a plain host), bitswap without pnet (a plain libp2p host with the same Noise + Yamux
 * settings), and a raw loopback TCP copy of the same bytes. Prints MB/s, MB per CPU second of
 * both sides, the ratios (round by round, then their median) and the peak RSS of both sides.
 * The baseline is stock Helia bitswap without pnet (defaults, exporter reading through Helia's
 * networked blockstore).
 *
 *   npx node bench/bundle-fetch.ts [--mb 200] [--runs 1] [--paths pnet,pnet0,plain,stock,tcp] [--json]
 *     [--window N] [--max-message BYTES] [--send-concurrency N] [--debounce MS]   (BlockService tuning)
 *     [--initial-window BYTES]   (yamux's first stream window; the pnet path then runs on a plain host
 *                                 with FleetNet's bounded pnet instead of a FleetNet)
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { ConnectionProtector, Libp2p, MessageStream } from '@libp2p/interface'
import { generateKey, preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { FsBlockstore } from 'blockstore-fs'
import { createHeliaLight, type Helia } from 'helia'
import { exporter } from 'ipfs-unixfs-exporter'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import pino from 'pino'
import { importBundle } from '../models/bundle/index.ts'
import { BlockService, DEFAULT_BLOCK_SERVICE_INIT } from '../node/blocks/index.ts'
import { boundedPreSharedKey, DEFAULT_FLEET_NET_INIT, FleetNet } from '../node/net/index.ts'

const logger = pino({ level: 'silent' })

/** The bitswap paths measured, by host mode. */
const PATHS = {
  pnet: 'BlockService, pnet',
  pnet0: 'BlockService, stock pnet',
  plain: 'BlockService, no pnet',
  stock: 'stock bitswap, no pnet',
} as const
const MB = 1e6

const { values: args } = parseArgs({
  options: {
    role: { type: 'string' },
    mode: { type: 'string' },
    dir: { type: 'string' },
    key: { type: 'string' },
    cid: { type: 'string' },
    addr: { type: 'string' },
    file: { type: 'string' },
    mb: { type: 'string', default: '200' },
    runs: { type: 'string', default: '1' },
    window: { type: 'string' },
    paths: { type: 'string', default: 'pnet,pnet0,plain,stock,tcp' },
    'max-message': { type: 'string' },
    'send-concurrency': { type: 'string' },
    debounce: { type: 'string' },
    'initial-window': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
})

/** Prints one JSON line for the parent. */
function report(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`)
}

/** BlockService tuning from the command line (defaults otherwise). */
function tuning(): {
  maxMessageBytes?: number
  sendConcurrencyPerPeer?: number
  wantDebounceMs?: number
  wantWindow?: number
} {
  return {
    wantDebounceMs: args.debounce == null ? undefined : Number(args.debounce),
    wantWindow: args.window == null ? undefined : Number(args.window),
    maxMessageBytes: args['max-message'] == null ? undefined : Number(args['max-message']),
    sendConcurrencyPerPeer: args['send-concurrency'] == null ? undefined : Number(args['send-concurrency']),
  }
}

/**
 * Stock pnet (the `xsalsa20` package) with its writes cut to 64 KiB: FleetNet's private
 * network before it had its own cipher, so that one run shows what the cipher changed.
 */
function stockPnetBounded(key: Uint8Array): () => ConnectionProtector {
  const factory = preSharedKey({ psk: key })
  return () => {
    const inner = factory()
    return {
      async protect(connection, options): Promise<MessageStream> {
        const stream = await inner.protect(connection, options)
        ;(stream as MessageStream & { maxMessageSize?: number }).maxMessageSize = 64 * 1024
        return stream
      },
    }
  }
}

const peakRssMb = (): number => (process.resourceUsage().maxRSS * 1024) / MB
/** CPU seconds (user + system) of this process since `since`. */
const cpuSince = (since: NodeJS.CpuUsage): number => {
  const u = process.cpuUsage(since)
  return (u.user + u.system) / 1e6
}
/** RSS once the modules are loaded, before any transfer: what a peer costs doing nothing. */
const baseRssMb = process.memoryUsage().rss / MB

async function host(
  mode: string,
  key: Uint8Array,
): Promise<{ libp2p: Libp2p; stop: () => Promise<void>; addrs: string[] }> {
  if (mode === 'pnet' && args['initial-window'] == null) {
    const net = new FleetNet(
      { logger },
      {
        privateKey: await generateKeyPair('Ed25519'),
        swarmKey: key,
        fleet: 'bench',
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false,
      },
    )
    await net.start()
    return { libp2p: net.libp2p, stop: () => net.stop(), addrs: net.addresses() }
  }
  const node = await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    // with --initial-window the pnet path is this host plus FleetNet's bounded pnet (what a yamux change there would give)
    ...(mode === 'pnet' ? { connectionProtector: boundedPreSharedKey(key) } : {}),
    ...(mode === 'pnet0' ? { connectionProtector: stockPnetBounded(key) } : {}),
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        streamOptions: {
          maxStreamWindowSize: DEFAULT_FLEET_NET_INIT.streamWindowBytes,
          ...(args['initial-window'] == null ? {} : { initialStreamWindowSize: Number(args['initial-window']) }),
        },
      }),
    ],
    services: { identify: identify() },
  })
  return { libp2p: node, stop: async () => node.stop(), addrs: node.getMultiaddrs().map((m) => m.toString()) }
}

/**
 * Stock Helia over `libp2p`: createHeliaLight + the host + withBitswap with its defaults, the
 * way FINDINGS measured "stock bitswap" (no stream shim, Helia's networked blockstore).
 */
async function stockHelia(libp2p: Libp2p, dir: string): Promise<Helia> {
  const helia = createHeliaLight({ blockstore: new FsBlockstore(dir), logger: libp2p.logger })
  Object.defineProperty(helia, 'libp2p', { value: libp2p, enumerable: true, configurable: true })
  withBitswap(helia as HeliaWithLibp2p)
  await helia.start()
  return helia
}

/** Reads every file of a UnixFS directory through `blockstore` (each missing block comes by bitswap). */
async function readAll(cid: CID, blockstore: Helia['blockstore']): Promise<number> {
  let bytes = 0
  const dir = await exporter(cid, blockstore)
  if (dir.type !== 'directory') throw new Error(`${cid}: not a directory`)
  for await (const link of dir.entries()) {
    const file = await exporter(link.cid, blockstore)
    if (file.type !== 'file' && file.type !== 'raw') continue
    for await (const chunk of file.content()) bytes += chunk.byteLength
  }
  return bytes
}

/** Child: imports `dir` and serves it until stdin closes. */
async function provider(): Promise<void> {
  const key = new Uint8Array(Buffer.from(args.key!, 'hex'))
  const h = await host(args.mode!, key)
  if (args.mode === 'stock') {
    const helia = await stockHelia(h.libp2p, join(args.dir!, 'provider-stock'))
    const cid = await importBundle(join(args.dir!, 'bundle'), helia.blockstore)
    report({ ready: true, cid, addrs: h.addrs })
    const cpu0 = process.cpuUsage()
    for await (const _ of createInterface({ input: process.stdin })) break
    report({ rssMb: peakRssMb(), baseRssMb, cpuSeconds: cpuSince(cpu0) })
    await helia.stop()
    await h.stop()
    return
  }
  const blocks = new BlockService(
    { libp2p: h.libp2p, logger },
    {
      dir: join(args.dir!, `provider-${args.mode}`),
      ...tuning(),
    },
  )
  await blocks.start()
  const imported = await blocks.importDirectory(join(args.dir!, 'bundle'))
  report({ ready: true, cid: imported.cid, addrs: h.addrs, bytes: imported.bytes })
  const cpu0 = process.cpuUsage()
  for await (const _ of createInterface({ input: process.stdin })) break
  report({ rssMb: peakRssMb(), baseRssMb, cpuSeconds: cpuSince(cpu0) })
  await blocks.stop()
  await h.stop()
}

/** Child: fetches the CID from `addr`, reports the time and its peak RSS. */
async function fetcher(): Promise<void> {
  const key = new Uint8Array(Buffer.from(args.key!, 'hex'))
  const h = await host(args.mode!, key)
  await h.libp2p.dial(multiaddr(args.addr!))
  if (args.mode === 'stock') {
    const helia = await stockHelia(h.libp2p, join(args.dir!, `fetcher-stock-${Date.now()}`))
    const started = performance.now()
    const cpu0 = process.cpuUsage()
    const bytes = await readAll(CID.parse(args.cid!), helia.blockstore)
    const cpuSeconds = cpuSince(cpu0)
    report({ seconds: (performance.now() - started) / 1000, bytes, rssMb: peakRssMb(), baseRssMb, cpuSeconds })
    await helia.stop()
    await h.stop()
    return
  }
  const blocks = new BlockService(
    { libp2p: h.libp2p, logger },
    { dir: join(args.dir!, `fetcher-${args.mode}-${Date.now()}`), ...tuning() },
  )
  await blocks.start()
  const started = performance.now()
  const cpu0 = process.cpuUsage()
  await blocks.fetch(args.cid!, { timeoutMs: 300_000 })
  const seconds = (performance.now() - started) / 1000
  const cpuSeconds = cpuSince(cpu0)
  report({
    seconds,
    bytes: blocks.stats().fetchedBytes,
    rssMb: peakRssMb(),
    baseRssMb,
    cpuSeconds,
    stats: blocks.stats(),
  })
  await blocks.stop()
  await h.stop()
}

/** Child: a raw TCP copy of `file`: serve once, or receive and count. */
async function tcpServer(): Promise<void> {
  const server = createServer((socket) => {
    createReadStream(args.file!, { highWaterMark: 1024 * 1024 }).pipe(socket)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  report({ ready: true, addrs: [String(port)] })
  const cpu0 = process.cpuUsage()
  for await (const _ of createInterface({ input: process.stdin })) break
  report({ rssMb: peakRssMb(), baseRssMb, cpuSeconds: cpuSince(cpu0) })
  server.close()
}

async function tcpClient(): Promise<void> {
  const started = performance.now()
  const cpu0 = process.cpuUsage()
  let bytes = 0
  await new Promise<void>((resolve, reject) => {
    const socket = connect(Number(args.addr), '127.0.0.1')
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength
    })
    socket.on('end', resolve)
    socket.on('error', reject)
  })
  report({
    seconds: (performance.now() - started) / 1000,
    bytes,
    rssMb: peakRssMb(),
    baseRssMb,
    cpuSeconds: cpuSince(cpu0),
  })
}

function child(role: string, extra: string[]): { proc: ChildProcess; lines: AsyncIterator<string> } {
  const proc = spawn(process.execPath, [import.meta.filename, '--role', role, ...extra], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]()
  return { proc, lines }
}

async function nextJson(lines: AsyncIterator<string>, what: string): Promise<Record<string, unknown>> {
  const { value, done } = await lines.next()
  if (done) throw new Error(`${what}: the child exited without reporting`)
  return JSON.parse(value) as Record<string, unknown>
}

interface Run {
  path: string
  mbPerSecond: number
  /** MB per CPU second of both sides together (steadier than wall time on a shared host). */
  mbPerCpuSecond: number
  providerCpuSeconds: number
  fetcherCpuSeconds: number
  seconds: number
  providerRssMb: number
  fetcherRssMb: number
  providerBaseRssMb: number
  fetcherBaseRssMb: number
}

async function runPair(path: string, serverRole: string, clientRole: string, base: string[]): Promise<Run> {
  const server = child(serverRole, base)
  try {
    const ready = await nextJson(server.lines, `${path} provider`)
    const extra = [...base, '--addr', (ready.addrs as string[])[0]]
    if (ready.cid != null) extra.push('--cid', String(ready.cid))
    const client = child(clientRole, extra)
    const result = await nextJson(client.lines, `${path} fetcher`)
    await new Promise((r) => client.proc.once('exit', r))
    server.proc.stdin!.end('stop\n')
    const served = await nextJson(server.lines, `${path} provider`)
    // let it stop on its own (a --cpu-prof profile is written at exit), then kill it regardless
    await Promise.race([new Promise((r) => server.proc.once('exit', r)), new Promise((r) => setTimeout(r, 10_000))])
    const seconds = Number(result.seconds)
    const providerCpuSeconds = Number(served.cpuSeconds)
    const fetcherCpuSeconds = Number(result.cpuSeconds)
    return {
      path,
      seconds,
      mbPerSecond: Number(result.bytes) / MB / seconds,
      mbPerCpuSecond: Number(result.bytes) / MB / (providerCpuSeconds + fetcherCpuSeconds),
      providerCpuSeconds,
      fetcherCpuSeconds,
      providerRssMb: Number(served.rssMb),
      fetcherRssMb: Number(result.rssMb),
      providerBaseRssMb: Number(served.baseRssMb),
      fetcherBaseRssMb: Number(result.baseRssMb),
    }
  } finally {
    server.proc.kill()
  }
}

async function main(): Promise<void> {
  const mb = Number(args.mb)
  const dir = await mkdtemp(join(tmpdir(), 'cis490-bundle-fetch-'))
  const cleanup = () => rm(dir, { recursive: true, force: true })
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)))
  try {
    const bundle = join(dir, 'bundle')
    const file = join(bundle, 'model.bin')
    await mkdir(bundle)
    // written in 1 MB pieces: a child's peak RSS counts the parent's at spawn (ru_maxrss survives exec)
    const fh = await open(file, 'w')
    for (let left = Math.round(mb * MB); left > 0; left -= MB) await fh.write(randomBytes(Math.min(MB, left)))
    await fh.close()
    await writeFile(join(bundle, 'bundle.json'), '{"format":"cis490-bundle/1"}\n')
    const key = new Uint8Array(95)
    generateKey(key)
    const keyHex = Buffer.from(key).toString('hex')
    const runs: Run[] = []
    const wanted = new Set(String(args.paths).split(','))
    for (let i = 0; i < Number(args.runs); i++) {
      for (const [mode, path] of Object.entries(PATHS)) {
        if (!wanted.has(mode)) continue
        runs.push(
          await runPair(path, 'provider', 'fetcher', [
            '--mode',
            mode,
            '--dir',
            dir,
            '--key',
            keyHex,
            ...(args.window == null ? [] : ['--window', args.window]),
            ...(args['max-message'] == null ? [] : ['--max-message', args['max-message']]),
            ...(args['send-concurrency'] == null ? [] : ['--send-concurrency', args['send-concurrency']]),
            ...(args.debounce == null ? [] : ['--debounce', args.debounce]),
            ...(args['initial-window'] == null ? [] : ['--initial-window', args['initial-window']]),
          ]),
        )
      }
      if (wanted.has('tcp')) runs.push(await runPair('raw TCP copy', 'tcp-server', 'tcp-client', ['--file', file]))
    }
    const best = (path: string) => Math.max(...runs.filter((r) => r.path === path).map((r) => r.mbPerSecond))
    const pnet = best(PATHS.pnet)
    const plain = best(PATHS.plain)
    const stock = best(PATHS.stock)
    const raw = best('raw TCP copy')
    // the load of a shared host drifts between rounds: compare paths within each round, then take the median
    const rounds = Number(args.runs)
    const perRound = (a: string, b: string, key: 'mbPerSecond' | 'mbPerCpuSecond' = 'mbPerSecond'): number[] =>
      Array.from({ length: rounds }, (_, i) => {
        const inRound = runs.slice((i * runs.length) / rounds, ((i + 1) * runs.length) / rounds)
        const x = inRound.find((r) => r.path === a)?.[key] ?? Number.NaN
        const y = inRound.find((r) => r.path === b)?.[key] ?? Number.NaN
        return x / y
      })
    const median = (xs: number[]): number => {
      const sorted = [...xs].sort((p, q) => p - q)
      return sorted.length % 2 === 1
        ? sorted[(sorted.length - 1) / 2]
        : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2
    }
    const pnetOverStockByRound = perRound(PATHS.pnet, PATHS.stock)
    const pnetOverPlainByRound = perRound(PATHS.pnet, PATHS.plain)
    const pnetOverStockCpuByRound = perRound(PATHS.pnet, PATHS.stock, 'mbPerCpuSecond')
    // what FleetNet's own cipher changed: the same BlockService through stock pnet's cipher
    const pnetOverStockPnetByRound = perRound(PATHS.pnet, PATHS.pnet0)
    const pnetOverStockPnetCpuByRound = perRound(PATHS.pnet, PATHS.pnet0, 'mbPerCpuSecond')
    const summary = {
      mb,
      pnetOverStockByRound,
      pnetOverStockMedian: median(pnetOverStockByRound),
      pnetOverPlainMedian: median(pnetOverPlainByRound),
      pnetOverStockCpuMedian: median(pnetOverStockCpuByRound),
      pnetOverStockPnetMedian: median(pnetOverStockPnetByRound),
      pnetOverStockPnetCpuMedian: median(pnetOverStockPnetCpuByRound),
      window: Number(args.window ?? DEFAULT_BLOCK_SERVICE_INIT.wantWindow),
      runs,
      ratios: {
        pnetOverStock: pnet / stock,
        pnetOverPlain: pnet / plain,
        pnetOverRawTcp: pnet / raw,
        stockOverRawTcp: stock / raw,
      },
    }
    console.log(`${mb} MB bundle, want window ${summary.window}, ${args.runs} run(s)`)
    for (const r of runs) {
      console.log(
        `${r.path.padEnd(22)} ${r.mbPerSecond.toFixed(1).padStart(8)} MB/s  ${r.seconds.toFixed(2).padStart(6)} s  ` +
          `${r.mbPerCpuSecond.toFixed(0).padStart(5)} MB/cpu-s (cpu provider ${r.providerCpuSeconds.toFixed(1)} s, fetcher ${r.fetcherCpuSeconds.toFixed(1)} s)  ` +
          `peak RSS provider ${r.providerRssMb.toFixed(0)} MB (${r.providerBaseRssMb.toFixed(0)} idle), ` +
          `fetcher ${r.fetcherRssMb.toFixed(0)} MB (${r.fetcherBaseRssMb.toFixed(0)} idle)`,
      )
    }
    console.log(
      `ratios (best runs): BlockService through pnet / stock bitswap without pnet ${summary.ratios.pnetOverStock.toFixed(2)} (target >= 1.0), ` +
        `pnet/no pnet ${summary.ratios.pnetOverPlain.toFixed(2)}, pnet/raw TCP ${summary.ratios.pnetOverRawTcp.toFixed(3)}, stock/raw TCP ${summary.ratios.stockOverRawTcp.toFixed(3)}`,
    )
    console.log(
      `within rounds: BlockService through pnet / stock without pnet ${pnetOverStockByRound.map((r) => r.toFixed(2)).join(', ')} ` +
        `(median ${summary.pnetOverStockMedian.toFixed(2)}); through pnet / BlockService without pnet median ${summary.pnetOverPlainMedian.toFixed(2)}; ` +
        `MB per CPU second, through pnet / stock without pnet median ${summary.pnetOverStockCpuMedian.toFixed(2)}; ` +
        `FleetNet's cipher / stock pnet's cipher median ${summary.pnetOverStockPnetMedian.toFixed(2)} wall, ${summary.pnetOverStockPnetCpuMedian.toFixed(2)} CPU`,
    )
    // --json: the figures as the last stdout line (for bench/run.ts)
    if (args.json) console.log(JSON.stringify(summary))
  } finally {
    await cleanup()
  }
}

const roles: Record<string, () => Promise<void>> = {
  provider,
  fetcher,
  'tcp-server': tcpServer,
  'tcp-client': tcpClient,
}
const role = args.role == null ? main : roles[args.role]
if (role == null) throw new Error(`--role: unknown role ${JSON.stringify(args.role)}`)
role().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
