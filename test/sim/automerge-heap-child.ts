// Runs one simulation and prints its report's summary: test/sim/automerge-heap.test.ts
// runs it under --trace-gc, with and without the heap reservation.
import { parseFaults, runSimulation } from '../../sim/index.ts'

const reserveHeap = process.argv[2] !== 'no-reserve'
const { result } = await runSimulation({ peers: 20, jobs: 300, seed: 1, faults: parseFaults('all'), reserveHeap })
console.log(
  JSON.stringify({ ok: result.invariant_violations.length === 0 && result.converged, runs: result.runs_started }),
)
