import { describe } from 'node:test'
import { largeFleetSeed } from '../helpers/sim-large.ts'

describe('larger fleets: 20 peers x 100 jobs', () => {
  largeFleetSeed(20, 100, 5)
  largeFleetSeed(20, 100, 6)
})
