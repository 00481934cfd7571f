import type { Ed25519PrivateKey } from '@libp2p/interface'
import {
  type DerivedJob,
  decodeRecord,
  deriveRecords,
  encodeRecord,
  keySigner,
  OPERATOR_RECORD_TYPES,
  type Signer,
  type TableJobSpec,
  type UnsignedRecord,
  type VerifiedRecord,
} from '../../crdt/index.ts'
import { type HostPolicy, type JobSpec, parseManifest } from '../../manifests/index.ts'
import type { FleetView, SubmitResult, WorkerInfo } from '../../node/api/index.ts'
import { generateKey } from '../../node/index.ts'
import type { HostCapability } from '../../node/scheduler/index.ts'

/** The fixture's clock: every record is written around here. */
export const T0 = 1_700_000_000_000

const MANIFEST = `
[fleet]
name = "lab"
dataset = "d"

[hosts.cpu-box]
deny_jobs = ["gbt"]
max_concurrent = 1

[[jobs]] # done1
model = "gbt"
mode = "realistic"
priority = 100

[[jobs]] # done2
model = "knn"
mode = "realistic"
priority = 50

[[jobs]] # running
model = "knn"
mode = "realistic"
seed = 1
priority = 40

[[jobs]] # failed
model = "mlp"
mode = "realistic"
max_attempts = 1
priority = 30

[[jobs]] # cancelled
model = "knn"
mode = "realistic"
seed = 2
priority = 20

[[jobs]] # needsCuda
model = "gbt"
mode = "realistic"
seed = 1
require_cuda = true
priority = 10

[[jobs]] # requeued
model = "knn"
mode = "realistic"
seed = 3
priority = 5
${Array.from({ length: 12 }, (_, i) => `\n[[jobs]] # filler\nmodel = "knn"\nmode = "oracle"\nseed = ${10 + i}\n`).join('')}
`

const CAP: Record<string, HostCapability> = {
  'gpu-box': { hostname: 'gpu-box', cuda: true, vram_gib: 24, ram_gib: 64, cores: 16, runtimes: ['xgboost', 'tfjs'] },
  'cpu-box': { hostname: 'cpu-box', cuda: false, vram_gib: 0, ram_gib: 32, cores: 8, runtimes: ['xgboost', 'tfjs'] },
  box2: { hostname: 'box2', cuda: false, vram_gib: 0, ram_gib: 16, cores: 4, runtimes: ['xgboost'] },
}

/**
 * An in-memory `FleetView` over a real log of signed records, derived with `deriveRecords`:
 * what the node will serve, without libp2p. `submit` verifies operator records like the node.
 */
export class FakeFleet implements FleetView {
  readonly log: Uint8Array[] = []
  readonly operatorKeys: Set<string>
  readonly hosts: Map<string, HostPolicy>
  peerWorkers: WorkerInfo[] = []
  now = T0 + 3_600_000
  constructor(operatorKeys: readonly string[], hosts: ReadonlyMap<string, HostPolicy>) {
    this.operatorKeys = new Set(operatorKeys)
    this.hosts = new Map(hosts)
  }
  private trust() {
    return { operatorKeys: this.operatorKeys, hosts: this.hosts }
  }
  health() {
    return {
      ok: true,
      peer_id: '12D3KooWFakeLocalPeer',
      addresses: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFakeLocalPeer'],
      fleet: 'lab',
      version: '0.1.0',
    }
  }
  jobs(): DerivedJob[] {
    return deriveRecords(this.log, { now: this.now, leaseMs: 30_000, lastSeen: () => undefined }, this.trust())
  }
  records(jobId: string): VerifiedRecord[] {
    return this.log
      .map((b) => decodeRecord(b))
      .filter(
        (v): v is VerifiedRecord =>
          v !== null &&
          v.record.j === jobId &&
          (!OPERATOR_RECORD_TYPES.has(v.record.t) || this.operatorKeys.has(v.record.by)),
      )
  }
  workers(): WorkerInfo[] {
    return this.peerWorkers
  }
  hostPolicies(): ReadonlyMap<string, HostPolicy> {
    return this.hosts
  }
  submit(records: readonly Uint8Array[]): SubmitResult {
    const out: SubmitResult = { accepted: 0, unchanged: 0, rejected: [] }
    const have = new Set(this.log.map((b) => decodeRecord(b)?.key))
    const jobs = new Map(this.jobs().map((j) => [j.id as string, j]))
    records.forEach((bytes, index) => {
      const v = decodeRecord(bytes)
      const reason =
        v === null
          ? 'malformed record or bad signature'
          : !OPERATOR_RECORD_TYPES.has(v.record.t)
            ? `${v.record.t}: not an operator record`
            : !this.operatorKeys.has(v.record.by)
              ? `${v.record.by}: not one of the fleet's operator_keys`
              : null
      if (v === null || reason !== null) {
        out.rejected.push({ index, reason: reason ?? '' })
        return
      }
      const r = v.record
      const current = jobs.get(r.j)
      const sameSpec = r.t === 'spec' && current !== undefined && sameBody(current.spec, r.spec)
      if (have.has(v.key) || sameSpec) {
        out.unchanged++
        return
      }
      this.log.push(bytes)
      have.add(v.key)
      out.accepted++
    })
    return out
  }
}

function sameBody(spec: TableJobSpec, body: object): boolean {
  const { id: _id, ...a } = spec
  return JSON.stringify(a) === JSON.stringify(body)
}

/** A record without its job id. */
type RecordBody = UnsignedRecord extends infer U ? (U extends unknown ? Omit<U, 'j'> : never) : never

/** Ids of the fixture's jobs by role. */
export interface FixtureIds {
  done1: string
  done2: string
  running: string
  failed: string
  cancelled: string
  needsCuda: string
  requeued: string
  fillers: string[]
}

/** The fleet of the API and CLI tests: 19 jobs in every state, three workers (one gone). */
export interface Fixture {
  fleet: FakeFleet
  operatorKey: Ed25519PrivateKey
  operator: Signer
  peers: { gpu: Signer; cpu: Signer; box2: Signer }
  ids: FixtureIds
  specs: JobSpec[]
  manifestText: string
}

/** Builds the fixture fleet with fresh keys. */
export async function apiFixture(): Promise<Fixture> {
  const operatorKey = await generateKey()
  const operator = keySigner(operatorKey)
  const [gpu, cpu, box2] = await Promise.all([0, 1, 2].map(async () => keySigner(await generateKey())))
  const manifestText = MANIFEST.replace('dataset = "d"', `dataset = "d"\noperator_keys = ["${operator.id}"]`)
  const m = parseManifest(manifestText, 'fixture.toml')
  const fleet = new FakeFleet([operator.id], m.hosts)
  const [done1, done2, running, failed, cancelled, needsCuda, requeued, ...fillers] = m.jobs.map((j) => j.id)
  const put = (signer: Signer, j: string, r: RecordBody) => {
    fleet.log.push(encodeRecord({ ...r, j } as unknown as UnsignedRecord, signer))
  }
  for (const job of m.jobs) {
    const { id, ...spec } = job
    put(operator, id, { t: 'spec', at: T0, spec })
  }
  const result = (host: string, val: number | null, test: number | null, fit_s: number) => ({
    bundle: `bafy-${host}-${val}`,
    val,
    test,
    fit_s,
    host,
  })
  // done1: a lapsed attempt on laptop, then completed on gpu-box.
  put(box2, done1, { t: 'claim', at: T0 + 1000, g: 0, r: 1, score: 1, host: 'laptop' })
  put(box2, done1, { t: 'start', at: T0 + 1100, g: 0, r: 1 })
  put(gpu, done1, { t: 'lapse', at: T0 + 40_000, g: 0, r: 1, owner: box2.id })
  put(gpu, done1, { t: 'claim', at: T0 + 41_000, g: 0, r: 2, score: 6416, host: 'gpu-box' })
  put(gpu, done1, { t: 'start', at: T0 + 41_500, g: 0, r: 2 })
  put(gpu, done1, { t: 'complete', at: T0 + 100_000, g: 0, r: 2, ...result('gpu-box', 0.91, 0.85, 12.5) })
  // done2: completed on cpu-box.
  put(cpu, done2, { t: 'claim', at: T0 + 2000, g: 0, r: 1, score: 3208, host: 'cpu-box' })
  put(cpu, done2, { t: 'start', at: T0 + 2100, g: 0, r: 1 })
  put(cpu, done2, { t: 'complete', at: T0 + 60_000, g: 0, r: 1, ...result('cpu-box', 0.8, 0.7, 3.25) })
  // running: on cpu-box.
  put(cpu, running, { t: 'claim', at: T0 + 200_000, g: 0, r: 1, score: 3208, host: 'cpu-box' })
  put(cpu, running, { t: 'start', at: T0 + 200_100, g: 0, r: 1 })
  // failed: its one attempt failed on gpu-box.
  put(gpu, failed, { t: 'claim', at: T0 + 3000, g: 0, r: 1, score: 1_024_006_416, host: 'gpu-box' })
  put(gpu, failed, { t: 'start', at: T0 + 3100, g: 0, r: 1 })
  put(gpu, failed, { t: 'fail', at: T0 + 9000, g: 0, r: 1, error: 'CUDA out of memory' })
  // cancelled by the operator.
  put(operator, cancelled, { t: 'cancel', at: T0 + 4000, g: 0 })
  // requeued: completed in generation 0, requeued into generation 1.
  put(cpu, requeued, { t: 'claim', at: T0 + 5000, g: 0, r: 1, score: 3208, host: 'cpu-box' })
  put(cpu, requeued, { t: 'complete', at: T0 + 9000, g: 0, r: 1, ...result('cpu-box', 0.5, null, 1) })
  put(operator, requeued, { t: 'requeue', at: T0 + 10_000, g: 1, force: false })

  fleet.peerWorkers = [
    worker(box2, 'box2', true, [], T0 + 3_599_000),
    worker(cpu, 'cpu-box', true, [running], T0 + 3_599_500),
    worker(gpu, 'gpu-box', false, [], T0 + 200_000),
  ]
  return {
    fleet,
    operatorKey,
    operator,
    peers: { gpu, cpu, box2 },
    ids: { done1, done2, running, failed, cancelled, needsCuda, requeued, fillers },
    specs: m.jobs,
    manifestText,
  }
}

function worker(s: Signer, hostname: string, reachable: boolean, running: string[], lastSeen: number): WorkerInfo {
  const capability = CAP[hostname]
  return {
    peer_id: s.id,
    hostname,
    score: capability.ram_gib * 100 + capability.cores,
    capability,
    last_seen: lastSeen,
    running,
    reachable,
    store: hostname === 'gpu-box',
  }
}

/** A pino-shaped logger that keeps what it is told (for assertions) and prints nothing. */
export function memoryLogger() {
  const lines: { level: string; obj: object; msg?: string }[] = []
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj, msg })
  }
  return { lines, debug: at('debug'), info: at('info'), error: at('error') }
}
