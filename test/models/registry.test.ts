import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isModelName, MODEL_NAMES, MODELS, resolveHyper } from '../../models/registry/index.ts'

describe('model registry', () => {
  it('declares the eight models', () => {
    assert.deepEqual([...MODEL_NAMES].sort(), ['cnn', 'gbt', 'gru', 'knn', 'knn_semi', 'lstm', 'mlp', 'transformer'])
    for (const name of MODEL_NAMES) assert.equal(MODELS[name].name, name)
    assert.ok(isModelName('gbt'))
    assert.ok(!isModelName('svm'))
  })

  it('fills defaults without touching what was written', () => {
    assert.deepEqual(resolveHyper('knn', {}), { k: 10 })
    assert.deepEqual(resolveHyper('knn_semi', { k: 5 }), { k: 5, label_frac: 0.2, confidence_threshold: 0.6 })
    const gbt = resolveHyper('gbt', { eta: 0.1 })
    assert.equal(gbt.eta, 0.1)
    assert.equal(gbt.num_boost_round, 500)
    assert.equal(gbt.early_stopping_rounds, 20)
    assert.equal(resolveHyper('transformer', {}).heads, 4)
    assert.equal(resolveHyper('cnn', {}).seq_len, 8)
  })

  it('rejects unknown keys and bad values for every model', () => {
    for (const name of MODEL_NAMES) {
      assert.throws(() => resolveHyper(name, { not_a_hyper: 1 }), /not_a_hyper/, name)
    }
    assert.throws(() => resolveHyper('knn', { k: 0 }), /positive integer/)
    assert.throws(() => resolveHyper('mlp', { dropout: 1 }), /\[0, 1\)/)
    assert.throws(() => resolveHyper('gbt', { subsample: 0 }), /\(0, 1\]/)
  })
})
