import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { deriveJobs, loadJobTable, saveJobTable } from '../../crdt/index.ts'
import { completedTable } from '../helpers/full-table.ts'
import { freshView, makeSigners } from '../helpers/job-table.ts'

describe('job table size', async () => {
  const [op, ...workers] = await makeSigners(5)

  it('stays well under 1 KiB per completed job (spec, claim, start, result)', () => {
    const n = 300
    const doc = completedTable(n, op, workers)
    const bytes = saveJobTable(doc)
    const perJob = bytes.length / n
    // Measured ~460 B/job; a shape change that stores strings or nests maps blows past this.
    assert.ok(perJob < 700, `${perJob.toFixed(0)} B/job`)
    const loaded = loadJobTable(bytes)
    const jobs = deriveJobs(loaded, freshView(0), { operatorKeys: new Set([op.id]) })
    assert.equal(jobs.length, n)
    assert.ok(jobs.every((j) => j.status === 'completed'))
  })
})
