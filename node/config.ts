import { existsSync, readFileSync, statSync } from 'node:fs'
import { homedir, hostname as osHostname } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { parse as parseToml, stringify as stringifyToml, TomlError } from 'smol-toml'
import { z } from 'zod'
import { type FleetConfig, type HostPolicy, loadManifest, type Manifest, parseManifest } from '../manifests/index.ts'
import { NodeConfigError } from './errors.ts'

/** Log levels pino knows. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Everything `cis490-node start` runs with, resolved (flags over `DATA_DIR/node.toml` over defaults). */
export interface NodeConfig {
  readonly dataDir: string
  readonly listen: readonly string[]
  readonly bootstrap: readonly string[]
  readonly mdns: boolean
  readonly swarmKeyFile: string
  /** The manifest given (its `[fleet]` and `[hosts.*]` are the fleet config; its jobs are loaded when the operator key is held). */
  readonly manifestFile: string | null
  readonly operatorKeyFile: string | null
  readonly api: { readonly host: string; readonly port: number }
  readonly hostname: string
  readonly store: boolean
  readonly logLevel: LogLevel
  /** The fleet config: operator keys, host policies, lease, dataset. */
  readonly fleet: FleetConfig
  readonly hosts: ReadonlyMap<string, HostPolicy>
  /** Where `fleet.dataset` is relative to (the manifest's or node.toml's directory). */
  readonly datasetBase: string
  /** The manifest, when one was given. */
  readonly manifest: Manifest | null
}

/** The flags of `cis490-node start`, as commander parses them (all optional). */
export interface StartFlags {
  dataDir?: string
  listen?: string[]
  bootstrap?: string[]
  mdns?: boolean
  swarmKey?: string
  manifest?: string
  operatorKey?: string
  api?: string
  hostname?: string
  store?: boolean
  logLevel?: string
}

/** Defaults of the node's settings. */
export const DEFAULT_NODE_SETTINGS = {
  /** @default ~/.cis490 (contract §8) */
  dataDir: join(homedir(), '.cis490'),
  /** @default every interface, TCP 4490 */
  listen: ['/ip4/0.0.0.0/tcp/4490'],
  /** @default 127.0.0.1:7420 (contract §8) */
  api: '127.0.0.1:7420',
  logLevel: 'info' as LogLevel,
} as const

const NodeTomlSchema = z.strictObject({
  listen: z.array(z.string().min(1), { error: 'expected an array of multiaddr strings' }).optional(),
  bootstrap: z.array(z.string().min(1), { error: 'expected an array of multiaddr strings' }).optional(),
  mdns: z.boolean({ error: 'expected true or false' }).optional(),
  swarm_key: z.string({ error: 'expected a file path' }).min(1).optional(),
  manifest: z.string({ error: 'expected a file path' }).min(1).optional(),
  operator_key: z.string({ error: 'expected a file path' }).min(1).optional(),
  api: z.string({ error: 'expected HOST:PORT' }).optional(),
  hostname: z.string({ error: 'expected a hostname' }).min(1).max(255).optional(),
  store: z.boolean({ error: 'expected true or false' }).optional(),
  log_level: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).optional(),
  fleet: z.record(z.string(), z.unknown(), { error: 'expected a [fleet] table' }).optional(),
  hosts: z.record(z.string(), z.unknown(), { error: 'expected [hosts.NAME] tables' }).optional(),
})
type NodeToml = z.infer<typeof NodeTomlSchema>

/** Parses `HOST:PORT` (IPv6 in brackets). */
export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim())
  const port = m === null ? Number.NaN : Number(m[3])
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new NodeConfigError(`${what}: expected HOST:PORT such as 127.0.0.1:7420, got ${JSON.stringify(text)}`)
  return { host: m[1] ?? m[2], port }
}

function readNodeToml(file: string): NodeToml {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new NodeConfigError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  let raw: unknown
  try {
    raw = parseToml(text)
  } catch (err) {
    const where = err instanceof TomlError ? ` (line ${err.line}, column ${err.column})` : ''
    throw new NodeConfigError(`${file}: not valid TOML${where}: ${(err as Error).message.split('\n')[0]}`)
  }
  const parsed = NodeTomlSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const key = issue.code === 'unrecognized_keys' ? issue.keys[0] : issue.path.join('.')
    throw new NodeConfigError(
      issue.code === 'unrecognized_keys'
        ? `${file}: unknown setting "${key}"; known: ${Object.keys(NodeTomlSchema.shape).join(', ')}`
        : `${file}: ${key}: ${issue.message}`,
    )
  }
  return parsed.data
}

/** The fleet part of a TOML file's tables (node.toml's or fleet.toml's `[fleet]` and `[hosts.*]`). */
function fleetOf(tables: { fleet?: unknown; hosts?: unknown }, file: string): Manifest {
  const text = stringifyToml({ fleet: tables.fleet ?? {}, hosts: tables.hosts ?? {} })
  return parseManifest(text, file)
}

const resolveFrom = (base: string, p: string) => (isAbsolute(p) ? p : resolve(base, p))

/**
 * Resolves the node's settings: flags win over `DATA_DIR/node.toml`, which wins over the
 * defaults. The fleet config comes from `--manifest` (or node.toml's `manifest`), else
 * from node.toml's own `[fleet]` / `[hosts.*]`, else from `DATA_DIR/fleet.toml` (written
 * by an earlier start).
 * @throws NodeConfigError naming the bad setting or file.
 */
export function resolveNodeConfig(flags: StartFlags): NodeConfig {
  const dataDir = resolve(flags.dataDir ?? process.env.CIS490_DATA_DIR ?? DEFAULT_NODE_SETTINGS.dataDir)
  if (existsSync(dataDir) && !statSync(dataDir).isDirectory())
    throw new NodeConfigError(`--data-dir: ${dataDir} exists and is not a directory`)
  const tomlFile = join(dataDir, 'node.toml')
  const toml: NodeToml = existsSync(tomlFile) ? readNodeToml(tomlFile) : {}
  const fromToml = (p: string | undefined) => (p === undefined ? undefined : resolveFrom(dataDir, p))
  const manifestFile = flags.manifest !== undefined ? resolve(flags.manifest) : (fromToml(toml.manifest) ?? null)
  let manifest: Manifest | null = null
  let fleetSource: Manifest
  let datasetBase: string
  if (manifestFile !== null) {
    manifest = loadManifest(manifestFile)
    fleetSource = manifest
    datasetBase = dirname(manifestFile)
  } else if (toml.fleet !== undefined) {
    fleetSource = fleetOf(toml, tomlFile)
    datasetBase = dataDir
  } else if (existsSync(join(dataDir, 'fleet.toml'))) {
    const file = join(dataDir, 'fleet.toml')
    const saved = parseToml(readFileSync(file, 'utf8')) as { fleet?: unknown; hosts?: unknown; dataset_base?: unknown }
    fleetSource = fleetOf(saved, file)
    datasetBase = typeof saved.dataset_base === 'string' ? saved.dataset_base : dataDir
  } else {
    throw new NodeConfigError(
      `no fleet config: pass --manifest FILE, or put a [fleet] table (name, dataset, operator_keys) in ${tomlFile}`,
    )
  }
  const logLevel = flags.logLevel ?? toml.log_level ?? DEFAULT_NODE_SETTINGS.logLevel
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel))
    throw new NodeConfigError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`)
  const operatorKeyFile =
    flags.operatorKey !== undefined ? resolve(flags.operatorKey) : (fromToml(toml.operator_key) ?? null)
  return {
    dataDir,
    listen: flags.listen ?? toml.listen ?? DEFAULT_NODE_SETTINGS.listen,
    bootstrap: flags.bootstrap ?? toml.bootstrap ?? [],
    mdns: flags.mdns ?? toml.mdns ?? true,
    swarmKeyFile:
      flags.swarmKey !== undefined ? resolve(flags.swarmKey) : (fromToml(toml.swarm_key) ?? join(dataDir, 'swarm.key')),
    manifestFile,
    operatorKeyFile,
    api: parseHostPort(flags.api ?? toml.api ?? DEFAULT_NODE_SETTINGS.api, flags.api !== undefined ? '--api' : 'api'),
    hostname: flags.hostname ?? toml.hostname ?? osHostname(),
    store: flags.store ?? toml.store ?? false,
    logLevel: logLevel as LogLevel,
    fleet: fleetSource.fleet,
    hosts: fleetSource.hosts,
    datasetBase,
    manifest,
  }
}

/** The fleet config as `DATA_DIR/fleet.toml` keeps it, so that a restart without flags knows its fleet. */
export function fleetToml(config: NodeConfig): string {
  return stringifyToml({
    dataset_base: config.datasetBase,
    fleet: { ...config.fleet },
    hosts: Object.fromEntries([...config.hosts].map(([k, v]) => [k, { ...v }])),
  })
}
