import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { canonicalJobIdentity, jobId } from '../../manifests/index.ts'

describe('job ids', () => {
  it('are sha256 of the JCS identity with defaults for absent fields', () => {
    const text = canonicalJobIdentity({ model: 'knn', mode: 'realistic' })
    assert.equal(text, '{"hyper":{},"mode":"realistic","model":"knn","seed":0,"split":{},"train_hosts":[]}')
    // printf '%s' '<text above>' | sha256sum
    assert.equal(
      jobId({ model: 'knn', mode: 'realistic' }),
      '69802c6e3b3b98d42efe8422f034a7442414d9ba3d396bea219b7b8699cacb95',
    )
  })
})
