import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { type JobSpec, parseManifest } from '../../manifests/index.ts'
import { MODEL_NAMES } from '../../models/registry/index.ts'
import {
  capabilityScore,
  type HostCapability,
  ineligibility,
  isSupported,
  mayRun,
  prefersGpu,
} from '../../node/index.ts'

const host = (over: Partial<HostCapability> = {}): HostCapability => ({
  hostname: 'h1',
  cuda: false,
  vram_gib: 0,
  ram_gib: 16,
  cores: 8,
  runtimes: ['xgboost', 'tfjs'],
  ...over,
})

function job(fields: string): JobSpec {
  return parseManifest(`[fleet]\nname = "t"\ndataset = "d"\n[[jobs]]\nmode = "m"\n${fields}`, 't.toml').jobs[0]
}

const capArb = fc.record({
  hostname: fc.constant('h1'),
  cuda: fc.boolean(),
  vram_gib: fc.integer({ min: 0, max: 2000 }),
  ram_gib: fc.double({ min: 0, max: 20_000, noNaN: true }),
  cores: fc.integer({ min: 0, max: 512 }),
  runtimes: fc.constant(['xgboost', 'tfjs'] as HostCapability['runtimes']),
})

describe('capabilityScore', () => {
  it('ranks CUDA first, then VRAM, RAM and cores for jobs that want a GPU', () => {
    const mlp = job('model = "mlp"')
    assert.ok(prefersGpu(mlp))
    const cudaSmall = capabilityScore(host({ cuda: true, vram_gib: 8, ram_gib: 8, cores: 2 }), mlp)
    const noCudaHuge = capabilityScore(host({ ram_gib: 1024, cores: 96 }), mlp)
    assert.ok(cudaSmall > noCudaHuge)
    const moreVram = capabilityScore(host({ cuda: true, vram_gib: 24, ram_gib: 8, cores: 2 }), mlp)
    assert.ok(moreVram > cudaSmall)
    const moreRam = capabilityScore(host({ cuda: true, vram_gib: 8, ram_gib: 64, cores: 2 }), mlp)
    assert.ok(moreRam > cudaSmall && moreRam < moreVram)
  })

  it('ignores CUDA for jobs that do not want a GPU, unless they ask for it', () => {
    const knn = job('model = "knn"')
    assert.ok(!prefersGpu(knn))
    assert.equal(capabilityScore(host({ cuda: true, vram_gib: 48 }), knn), capabilityScore(host(), knn))
    assert.ok(capabilityScore(host({ ram_gib: 32 }), knn) > capabilityScore(host({ ram_gib: 16, cores: 64 }), knn))
    const knnCuda = job('model = "knn"\nprefer_cuda = true')
    assert.ok(
      capabilityScore(host({ cuda: true, vram_gib: 8 }), knnCuda) > capabilityScore(host({ ram_gib: 512 }), knnCuda),
    )
  })

  it('is an integer, and each term stays below the one above it (property)', () => {
    fc.assert(
      fc.property(capArb, capArb, fc.constantFrom(...MODEL_NAMES), (a, b, model) => {
        const spec = job(`model = "${model}"`)
        const sa = capabilityScore(a, spec)
        assert.ok(Number.isSafeInteger(sa))
        if (!prefersGpu(spec)) return
        const ka = [
          a.cuda ? 1 : 0,
          a.cuda ? Math.min(999, a.vram_gib) : 0,
          Math.min(9999, Math.floor(a.ram_gib)),
          Math.min(99, a.cores),
        ]
        const kb = [
          b.cuda ? 1 : 0,
          b.cuda ? Math.min(999, b.vram_gib) : 0,
          Math.min(9999, Math.floor(b.ram_gib)),
          Math.min(99, b.cores),
        ]
        const lex = ka.findIndex((x, i) => x !== kb[i])
        const sb = capabilityScore(b, spec)
        if (lex < 0) assert.equal(sa, sb)
        else assert.equal(Math.sign(sa - sb), Math.sign(ka[lex] - kb[lex]))
      }),
    )
  })
})

describe('ineligibility', () => {
  it('names the constraint that excludes the host', () => {
    assert.equal(ineligibility(host(), job('model = "mlp"\nrequire_cuda = true')), 'require_cuda')
    assert.equal(
      ineligibility(host({ cuda: true, vram_gib: 8 }), job('model = "mlp"\nmin_vram_gib = 16')),
      'min_vram_gib',
    )
    assert.equal(ineligibility(host(), job('model = "mlp"\nmin_vram_gib = 1')), 'min_vram_gib')
    assert.equal(ineligibility(host(), job('model = "knn"\nmin_ram_gib = 17')), 'min_ram_gib')
    assert.equal(ineligibility(host(), job('model = "knn"\nallowed_hosts = ["h2"]')), 'allowed_hosts')
    assert.equal(ineligibility(host({ runtimes: ['tfjs'] }), job('model = "gbt"')), 'runtime:xgboost')
    assert.equal(ineligibility(host({ runtimes: ['xgboost'] }), job('model = "lstm"')), 'runtime:tfjs')
    const policy = new Map([['h1', { allow_jobs: [], deny_jobs: ['knn' as const], max_concurrent: 1 }]])
    assert.equal(ineligibility(host(), job('model = "knn"'), policy), 'host_policy')
    assert.equal(ineligibility(host(), job('model = "knn_semi"'), policy), null)
    assert.ok(mayRun(host({ runtimes: [] }), job('model = "knn"')), 'knn needs no runtime')
  })

  it('says unsupported for a model or hypers this version does not know, whatever the names', () => {
    const knn = job('model = "knn"')
    for (const model of ['future-model', '__proto__', 'constructor', 'toString', '']) {
      assert.equal(ineligibility(host(), { ...knn, model }), 'unsupported', model)
      assert.equal(prefersGpu({ ...knn, model }), false)
    }
    assert.equal(ineligibility(host(), { ...knn, hyper: { k: 3, new_knob: 1 } }), 'unsupported')
    assert.equal(ineligibility(host(), { ...knn, hyper: { k: 'ten' } }), 'unsupported')
    assert.equal(ineligibility(host(), { ...knn, hyper: JSON.parse('{"__proto__": {"k": 1}}') }), 'unsupported')
    assert.equal(ineligibility(host(), { ...knn, hyper: { k: 3 } }), null)
    assert.equal(isSupported({ model: 'knn', hyper: {} }), true)
    assert.equal(isSupported({ model: 'hasOwnProperty', hyper: {} }), false)
  })
})
