/**
 * Simulator scale bench: the bar is 50 peers x 1,000 jobs with every fault in under
 * 60 s of wall time on a 2-core machine (aim: 100 x 2,000).
 *
 *   npx node bench/sim-scale.ts [50x1000 100x2000 ...] [--faults all] [--seed 1]
 *
 * Prints, per size: wall seconds, virtual seconds, peers x jobs per wall second, where the
 * time went (Automerge merges, sync), whether every invariant held, and the ratio to a
 * reference measured in the same run: the same fault set at 10 x 100 (so a slow machine
 * shows as a slow reference, not as a regression). Each size runs in a fresh child
 * process, so one size's heap does not slow the next.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { parseFaults, runSimulation } from '../sim/index.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    faults: { type: 'string', default: 'all' },
    seed: { type: 'string', default: '1' },
    child: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
})

interface Row {
  peers: number
  jobs: number
  wall_s: number
  /** CPU seconds of the process (user + system): on a VM whose speed drifts, wall alone misleads. */
  cpu_s: number
  virtual_s: number
  pj_per_s: number
  ok: boolean
  runs: number
  merges: number
  chunks: number
  merged_mib: number
  known_changes: number
  sync_messages: number
  crashes: number
  partitions: number
  rss_mib: number
}

async function measure(peers: number, jobs: number): Promise<Row> {
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  const { result: r, details: d } = await runSimulation({
    peers,
    jobs,
    seed: Number(values.seed),
    faults: parseFaults(values.faults),
  })
  const wall = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  return {
    peers,
    jobs,
    wall_s: Math.round(wall * 10) / 10,
    cpu_s: Math.round((cpu.user + cpu.system) / 1e5) / 10,
    virtual_s: r.virtual_seconds,
    pj_per_s: Math.round((peers * jobs) / wall),
    ok: r.invariant_violations.length === 0 && r.converged && r.unfinished === 0,
    runs: r.runs_started,
    merges: d.merges,
    chunks: d.chunksMerged,
    merged_mib: Math.round(d.bytesMerged / 2 ** 20),
    known_changes: d.knownChanges,
    sync_messages: d.syncMessages,
    crashes: d.faults.crashes,
    partitions: d.faults.partitions,
    rss_mib: Math.round(process.memoryUsage().rss / 2 ** 20),
  }
}

function parseSize(text: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(text)
  if (m === null) throw new Error(`size "${text}": expected PEERSxJOBS, e.g. 50x1000`)
  return [Number(m[1]), Number(m[2])]
}

if (values.child) {
  const [peers, jobs] = parseSize(positionals[0])
  process.stdout.write(`${JSON.stringify(await measure(peers, jobs))}\n`)
} else {
  const self = fileURLToPath(import.meta.url)
  const run = (size: string): Row => {
    const out = spawnSync(process.execPath, [self, '--child', '--faults', values.faults, '--seed', values.seed, size], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    })
    if (out.status !== 0) throw new Error(`${size} failed: ${out.stderr}`)
    return JSON.parse(out.stdout.trim().split('\n').pop() as string) as Row
  }
  const sizes = positionals.length > 0 ? positionals : ['50x1000']
  console.log(`faults ${values.faults}, seed ${values.seed}`)
  const ref = run('10x100')
  const rows: Row[] = []
  console.log(`reference 10x100: ${ref.wall_s} s wall, ${ref.cpu_s} s CPU, ${ref.pj_per_s} peers*jobs/s`)
  for (const size of sizes) {
    const row = run(size)
    rows.push(row)
    console.log(
      `${size}: ${row.wall_s} s wall (${(row.wall_s / ref.wall_s).toFixed(1)}x the reference), ${row.cpu_s} s CPU, ` +
        `${row.virtual_s} s virtual, ${row.pj_per_s} peers*jobs/s, invariants ${row.ok ? 'held' : 'VIOLATED'}`,
    )
    console.log(`  ${JSON.stringify(row)}`)
  }
  // --json: one object as the last stdout line (for bench/run.ts)
  if (values.json) console.log(JSON.stringify({ reference: ref, sizes: rows }))
}
