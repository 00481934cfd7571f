import { describe } from 'node:test'
import { largeFleetSeed } from '../helpers/sim-large.ts'

describe('larger fleets: 50 peers x 300 jobs', () => {
  largeFleetSeed(50, 300, 9)
})
