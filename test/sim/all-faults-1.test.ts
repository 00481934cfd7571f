import { sweepAllFaultSeeds } from '../helpers/sim-seed-sweep.ts'

// With every fault on, no invariant is violated: seeds 1000..1079 (80 of the suite's 320).
sweepAllFaultSeeds(1000, 80)
