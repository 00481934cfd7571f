/**
 * How long a signed reload takes to reach every peer of a real fleet: N `cis490-node start`
 * processes on loopback, a reload of M jobs POSTed to one of them, the time until every
 * peer's `/v1/jobs` lists all M. Beside each, the simulator's prediction for the same fleet
 * (production timings, loopback latency). Run: `npx node bench/fleet-sync.ts [--quick]`.
 */
import { readFileSync } from 'node:fs'
import { keySigner, manifestRecords } from '../crdt/index.ts'
import { loadManifest } from '../manifests/index.ts'
import { loadPrivateKey } from '../node/index.ts'
import { runSimulation } from '../sim/index.ts'
import { NodeFleet } from '../test/helpers/node-fleet.ts'

const quick = process.argv.includes('--quick')
const grid: [number, number][] = quick
  ? [
      [3, 100],
      [5, 1000],
    ]
  : [
      [3, 1000],
      [5, 1000],
      [10, 1000],
      [5, 100],
      [5, 5000],
    ]

async function measure(peers: number, jobs: number): Promise<number> {
  const fleet = await NodeFleet.create({ jobs })
  try {
    for (let i = 0; i < peers; i++) await fleet.start(`n${i}`, { args: ['--manifest', fleet.files.fleetOnly] })
    // Let every connection and gossip subscription settle first.
    await new Promise((r) => setTimeout(r, Number(process.env.SETTLE_MS ?? 3000)))
    const signer = keySigner(loadPrivateKey(fleet.files.operatorKey))
    const { records } = manifestRecords(signer, loadManifest(fleet.files.manifest), [], Date.now())
    const body = JSON.stringify({ records: records.map((r) => Buffer.from(r).toString('base64')) })
    const t0 = performance.now()
    const res = await fetch(`http://${fleet.nodes[0].api}/v1/ops`, { method: 'POST', body })
    if (!res.ok) throw new Error(`reload: HTTP ${res.status} ${await res.text()}`)
    const done = new Set<string>()
    while (done.size < peers) {
      for (const n of fleet.nodes) {
        if (done.has(n.name)) continue
        const list = (await fleet.get(n, '/v1/jobs')) as unknown[]
        if (list.length === jobs) done.add(n.name)
      }
      if (performance.now() - t0 > 300_000) throw new Error('no convergence within 300 s')
    }
    return performance.now() - t0
  } finally {
    await fleet.close()
  }
}

async function predict(peers: number, jobs: number): Promise<number | null> {
  const r = await runSimulation({
    peers,
    jobs,
    seed: 1,
    faults: [],
    durationS: 2,
    config: {
      leaseMs: 30_000,
      renewMs: 10_000,
      settleMs: 3000,
      mergeMs: 200,
      decideMs: 100,
      aeMs: 5000,
      heartbeatMs: 10_000,
      latencyMinMs: 0.2,
      latencyMaxMs: 2,
      trainMinMs: 1e9,
      trainMaxMs: 1e9 + 1,
      quietMaxS: 0,
    },
  })
  return r.details.loadConvergedMs
}

console.log(
  `node ${process.version}, ${readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? ''}`,
)
console.log('peers  jobs  measured_ms  simulated_ms  ratio')
const results: { peers: number; jobs: number; measured_ms: number; simulated_ms: number | null }[] = []
for (const [peers, jobs] of grid) {
  const measured = await measure(peers, jobs)
  const simulated = await predict(peers, jobs)
  const ratio = simulated === null ? 'n/a' : (measured / simulated).toFixed(1)
  results.push({ peers, jobs, measured_ms: measured, simulated_ms: simulated })
  console.log(
    `${String(peers).padStart(5)}  ${String(jobs).padStart(4)}  ${measured.toFixed(0).padStart(11)}  ${String(simulated?.toFixed(0) ?? 'n/a').padStart(12)}  ${ratio}`,
  )
}
// with --json the last stdout line is one JSON object of the figures (for bench/run.ts)
if (process.argv.includes('--json')) console.log(JSON.stringify({ rows: results }))
