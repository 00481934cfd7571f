/**
 * Size and load time of a job table of 10,000 jobs, each claimed, run and completed once.
 * Target: under 1 KiB a job and under 2 s to load. Reference in the same run: the same
 * records stored as one JSON string each (FINDINGS' slow shape).
 *
 *   npx node bench/job-table-size.ts [jobs] [--json]
 *
 * With `--json` the last stdout line is one JSON object of the figures (for bench/run.ts).
 */
import * as Automerge from '@automerge/automerge'
import { deriveJobs, loadJobTable, recordsOf, saveJobTable } from '../crdt/index.ts'
import { completedTable } from '../test/helpers/full-table.ts'
import { freshView, makeSigners } from '../test/helpers/job-table.ts'

const n = Number(process.argv.slice(2).find((a) => a !== '--json') ?? 10_000)
const [op, ...workers] = await makeSigners(9)
let t = performance.now()
const doc = completedTable(n, op, workers)
const buildS = (performance.now() - t) / 1000
const bytes = saveJobTable(doc)
t = performance.now()
const loaded = loadJobTable(bytes)
const loadS = (performance.now() - t) / 1000
t = performance.now()
const jobs = deriveJobs(loaded, freshView(0), { operatorKeys: new Set([op.id]) })
const deriveS = (performance.now() - t) / 1000

// Reference: the same records as collaborative strings, 500 per change.
const strings = (recordsOf(doc) as Uint8Array[]).map((r) => Buffer.from(r).toString('base64'))
let ref = Automerge.change(Automerge.init<{ log: string[] }>(), (d) => {
  d.log = []
})
for (let i = 0; i < strings.length; i += 500) {
  ref = Automerge.change(ref, (d) => {
    for (const s of strings.slice(i, i + 500)) d.log.push(s)
  })
}
const refBytes = Automerge.save(ref)
t = performance.now()
Automerge.load(refBytes)
const refLoadS = (performance.now() - t) / 1000

console.log(`jobs: ${n} (${jobs.filter((j) => j.status === 'completed').length} completed)`)
console.log(`build (one change per transition): ${buildS.toFixed(1)} s`)
console.log(`saved: ${bytes.length} B = ${(bytes.length / n).toFixed(0)} B/job (target < 1024)`)
console.log(
  `load: ${loadS.toFixed(3)} s (target < 2); first derive (verifies every signature): ${deriveS.toFixed(2)} s`,
)
console.log(
  `reference, records as collaborative strings: ${(refBytes.length / n).toFixed(0)} B/job, load ${refLoadS.toFixed(3)} s`,
)
console.log(`ratio load ours/reference: ${(loadS / refLoadS).toFixed(2)}`)
if (process.argv.includes('--json')) {
  console.log(
    JSON.stringify({
      jobs: n,
      bytes_per_job: bytes.length / n,
      load_s: loadS,
      derive_s: deriveS,
      reference_bytes_per_job: refBytes.length / n,
      reference_load_s: refLoadS,
    }),
  )
}
