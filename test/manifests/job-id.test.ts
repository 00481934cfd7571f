import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { canonicalJobIdentity, jobId, parseManifest, resolveIdPrefix } from '../../manifests/index.ts'

// Vectors computed outside this code:
//   printf '%s' '<canonical text>' | sha256sum
// and in Python: json.dumps(d, sort_keys=True, separators=(',', ':')) then hashlib.sha256
// (the same as RFC 8785 for these values: ASCII keys, no floats with exponents).
describe('job ids', () => {
  it('use defaults for absent identity fields', () => {
    const text = canonicalJobIdentity({ model: 'knn', mode: 'realistic' })
    assert.equal(text, '{"hyper":{},"mode":"realistic","model":"knn","seed":0,"split":{},"train_hosts":[]}')
    assert.equal(
      jobId({ model: 'knn', mode: 'realistic' }),
      '69802c6e3b3b98d42efe8422f034a7442414d9ba3d396bea219b7b8699cacb95',
    )
  })

  it('canonicalise key order and numbers of a full job written in TOML', () => {
    const m = parseManifest(
      `[fleet]\nname = "f"\ndataset = "d"\n[[jobs]]\nseed = 7\ntrain_hosts = ["elliott-thinkpad"]\nsplit = { val_frac = 0.2, test_hosts = ["k-gamingcom"] }\nhyper = { max_depth = 6, eta = 0.1 }\nmode = "oracle"\nmodel = "gbt"\npriority = 100\n`,
      'm.toml',
    )
    assert.equal(
      canonicalJobIdentity(m.jobs[0]),
      '{"hyper":{"eta":0.1,"max_depth":6},"mode":"oracle","model":"gbt","seed":7,"split":{"test_hosts":["k-gamingcom"],"val_frac":0.2},"train_hosts":["elliott-thinkpad"]}',
    )
    assert.equal(m.jobs[0].id, '07294fe5c729ed0e0d6f8df5e10d8134db357e06582a1f54b1a82805e206771b')
  })

  it('resolve unique prefixes and name ambiguous or unknown ones', () => {
    const ids = ['abc123', 'abd456', 'ff0000']
    assert.equal(resolveIdPrefix(ids, 'abc'), 'abc123')
    assert.equal(resolveIdPrefix(ids, 'FF'), 'ff0000')
    assert.throws(() => resolveIdPrefix(ids, 'ab'), /"ab": ambiguous, matches abc123, abd456/)
    assert.throws(() => resolveIdPrefix(ids, '99'), /"99": no job/)
    assert.throws(() => resolveIdPrefix(ids, 'xyz'), /expected hex digits/)
  })
})
