import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  argmaxRows,
  EarlyStopping,
  findXgboostLibrary,
  loadXgboost,
  parseEvalMetric,
  probeXgboost,
  systemLibraryDirs,
  XgboostCallError,
} from '../../models/gbt/index.ts'

describe('findXgboostLibrary', () => {
  let root: string
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'gbt-find-'))
  })
  after(() => rmSync(root, { recursive: true, force: true }))

  const touch = (...parts: string[]): string => {
    const path = join(root, ...parts)
    mkdirSync(join(path, '..'), { recursive: true })
    writeFileSync(path, '')
    return path
  }

  it('takes XGBOOST_LIBRARY first, and reports it when it is not a file', () => {
    const lib = touch('custom', 'libxgboost-custom.so')
    const sys = touch('sys1', 'libxgboost.so')
    assert.deepEqual(findXgboostLibrary({ env: { XGBOOST_LIBRARY: lib }, libDirs: [join(root, 'sys1')] }), {
      found: true,
      path: lib,
      source: 'env',
    })
    const missing = findXgboostLibrary({ env: { XGBOOST_LIBRARY: `${lib}.nope` }, libDirs: [join(root, 'sys1')] })
    assert.equal(missing.found, false)
    assert.ok(!missing.found && missing.reason.includes(`XGBOOST_LIBRARY=${lib}.nope is not a file`))
    assert.ok(sys)
  })

  it("globs Debian's versioned file names, preferring the plain name, else the highest version", () => {
    const dir = join(root, 'sys2')
    touch('sys2', 'libxgboost.so.1.6.0')
    touch('sys2', 'libxgboost.so.1.10.0')
    touch('sys2', 'libxgboost.so.foo')
    symlinkSync(join(dir, 'libxgboost.so.1.6.0'), join(dir, 'libxgboost.so.0'))
    const found = findXgboostLibrary({ env: {}, libDirs: [join(root, 'empty'), dir], pythonPrefixes: [] })
    assert.deepEqual(found, { found: true, path: join(dir, 'libxgboost.so.1.10.0'), source: 'system' })
    touch('sys2', 'libxgboost.so')
    const plain = findXgboostLibrary({ env: {}, libDirs: [dir], pythonPrefixes: [] })
    assert.equal(plain.found && plain.path, join(dir, 'libxgboost.so'))
  })

  it("falls back to a pip wheel's xgboost/lib under site-packages, newest Python first", () => {
    const prefix = join(root, 'home', '.local')
    touch('home', '.local', 'lib', 'python3.9', 'site-packages', 'xgboost', 'lib', 'libxgboost.so')
    const newest = touch('home', '.local', 'lib', 'python3.11', 'site-packages', 'xgboost', 'lib', 'libxgboost.so')
    mkdirSync(join(prefix, 'lib', 'python3.12', 'site-packages'), { recursive: true })
    const found = findXgboostLibrary({ env: {}, libDirs: [join(root, 'empty')], pythonPrefixes: [prefix] })
    assert.deepEqual(found, { found: true, path: newest, source: 'python' })
  })

  it('lists where it looked when there is none', () => {
    const found = findXgboostLibrary({ env: {}, libDirs: [join(root, 'empty')], pythonPrefixes: [join(root, 'none')] })
    assert.equal(found.found, false)
    assert.ok(!found.found && found.searched.includes(join(root, 'empty', 'libxgboost.so*')))
  })
})

describe('probeXgboost', () => {
  it('reports the installed library, its version and CUDA support', () => {
    const probe = probeXgboost()
    assert.equal(probe.available, true, probe.error)
    assert.match(probe.version ?? '', /^\d+\.\d+\.\d+$/)
    const [major, minor] = (probe.version ?? '').split('.').map(Number)
    assert.ok(major > 1 || (major === 1 && minor >= 7), `version ${probe.version}`)
    assert.equal(typeof probe.cuda, 'boolean')
    assert.equal(probe.path, loadXgboost().path)
  })

  it('never throws: a missing library and a library that is not XGBoost are reported', () => {
    const missing = probeXgboost({ env: { XGBOOST_LIBRARY: '/nonexistent/libxgboost.so' } })
    assert.equal(missing.available, false)
    assert.match(missing.error ?? '', /not a file.*apt-get install libxgboost0/)
    // libc is a real shared library without XGBoost's symbols.
    const libcPath = join(systemLibraryDirs()[0], 'libc.so.6')
    const libc = probeXgboost({ env: { XGBOOST_LIBRARY: libcPath } })
    assert.equal(libc.available, false)
    assert.equal(libc.path, libcPath)
    assert.match(libc.error ?? '', /not a usable libxgboost/)
    const junk = mkdtempSync(join(tmpdir(), 'gbt-probe-'))
    try {
      writeFileSync(join(junk, 'libxgboost.so'), 'not an ELF file')
      const bad = probeXgboost({ env: { XGBOOST_LIBRARY: join(junk, 'libxgboost.so') } })
      assert.equal(bad.available, false)
      assert.match(bad.error ?? '', /cannot load/)
    } finally {
      rmSync(junk, { recursive: true, force: true })
    }
  })
})

describe('XGBoost C API errors', () => {
  it("surface XGBGetLastError's text", () => {
    const lib = loadXgboost()
    const booster = lib.createBooster([])
    try {
      assert.throws(
        () => lib.loadModel(booster, new TextEncoder().encode('{"not": "a model"}')),
        (err: Error) => err instanceof XgboostCallError && /XGBoosterLoadModelFromBuffer failed: .+/.test(err.message),
      )
    } finally {
      lib.freeBooster(booster)
    }
  })
})

describe('EarlyStopping', () => {
  it("stops like Python xgboost's callback: strict improvement, patience counted from the best", () => {
    const es = new EarlyStopping(2)
    const scores = [1.0, 0.8, 0.8, 0.7, 0.75, 0.71, 0.5]
    // 0.8 at round 2 ties the best: no improvement; 0.7 improves; then two rounds without.
    assert.deepEqual(
      scores.slice(0, 6).map((s, i) => es.update(i, s)),
      [false, false, false, false, false, true],
    )
    const again = new EarlyStopping(2)
    for (let i = 0; i <= 5; i++) again.update(i, scores[i])
    assert.equal(again.bestIteration, 3)
    assert.equal(again.bestScore, 0.7)
  })

  it('parses the metric out of XGBoost evaluation text', () => {
    const text = '[12]\ttrain-mlogloss:0.30000000000000004\tval-mlogloss:0.4123456789012346'
    assert.equal(parseEvalMetric(text, 'val', 'mlogloss'), 0.4123456789012346)
    assert.equal(parseEvalMetric(text, 'train', 'mlogloss'), 0.30000000000000004)
    assert.throws(() => parseEvalMetric(text, 'test', 'mlogloss'), /no test-mlogloss/)
  })
})

describe('argmaxRows', () => {
  it('picks the most probable class per row, ties to the smallest index', () => {
    const proba = Float32Array.from([0.2, 0.5, 0.3, 0.4, 0.2, 0.4, 1 / 3, 1 / 3, 1 / 3])
    assert.deepEqual(argmaxRows(proba, 3), Int32Array.from([1, 0, 0]))
    assert.throws(() => argmaxRows(proba, 4), /do not split into rows of 4/)
  })
})
