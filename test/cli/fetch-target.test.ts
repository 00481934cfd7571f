import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fetchTarget } from '../../cli/commands/fetch.ts'
import { onlyOnTrainers } from '../../cli/commands/jobs.ts'
import type { JobJson, WorkerJson } from '../../node/api/index.ts'

describe('fetch targets', () => {
  it('a CID, a job id or prefix, or a usage error naming the input', () => {
    const cid = 'bafybeif52ry2o5oypkoulvusfmryz7vayg7ogivaexahbhvbthud23s22y'
    assert.deepEqual(fetchTarget(cid), { cid })
    assert.deepEqual(fetchTarget('ABCdef012345'), { job: 'abcdef012345' })
    assert.throws(() => fetchTarget('bafynotacid'), { name: 'UsageError', message: /"bafynotacid": expected a CID/ })
    assert.throws(() => fetchTarget('a'.repeat(65)), { name: 'UsageError' })
    assert.throws(() => fetchTarget(''), { name: 'UsageError' })
  })
})

describe('jobs: results held only by their trainers', () => {
  const job = (bundle: string | null) => ({ id: 'a'.repeat(64), bundle }) as unknown as JobJson
  const worker = (store: boolean) => ({ peer_id: 'p', store }) as unknown as WorkerJson
  it('warns when no known peer is a store peer and some job has a bundle', () => {
    assert.match(
      onlyOnTrainers([job('bafyx'), job(null), job('bafyy')], [worker(false), worker(false)]) ?? '',
      /no store peer in the fleet: the results of 2 job\(s\) live only on their trainers/,
    )
  })
  it('says nothing with a store peer, or with no bundle yet', () => {
    assert.equal(onlyOnTrainers([job('bafyx')], [worker(false), worker(true)]), null)
    assert.equal(onlyOnTrainers([job(null)], [worker(false)]), null)
  })
})
