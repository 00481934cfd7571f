import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { loadDataset } from '../../models/dataset/index.ts'
import { splitRows, uniformHash } from '../../models/split.ts'
import { makeSyntheticDataset } from '../helpers/dataset-fixture.ts'
import { runPython } from './knn-fixture.ts'

/** The contract's recipe (CONTRACTS §3) written independently in Python with hashlib. */
const PYTHON_SPLIT = `
import hashlib, json
def u(key):
    return int.from_bytes(hashlib.sha256(key.encode('utf-8')).digest()[:8], 'big') / 2**64
job = json.load(open('rows.json'))
out = {'cases': [], 'u': [u(k) for k in job['keys']]}
for case in job['cases']:
    test_hosts, train_hosts = set(case['test_hosts']), set(case['train_hosts'])
    parts = []
    for host, episode in job['rows']:
        if host in test_hosts:
            parts.append('test')
        elif train_hosts and host not in train_hosts:
            parts.append('none')
        elif u(f"{case['seed']}:val:{host}:{episode}") < case['val_frac']:
            parts.append('val')
        else:
            parts.append('train')
    out['cases'].append(parts)
print(json.dumps(out))
`

describe('split recipe', () => {
  const root = mkdtempSync(join(tmpdir(), 'cis490-split-'))
  after(() => rmSync(root, { recursive: true, force: true }))

  it('assigns the same rows to train/val/test as a Python implementation of the contract', async () => {
    await makeSyntheticDataset(join(root, 'd'), { hosts: ['alpha', 'beta', 'gamma.lab'], episodes: 30, windows: 3 })
    const data = await loadDataset(join(root, 'd'), 'realistic')
    const cases = [
      { test_hosts: ['beta'], train_hosts: [], val_frac: 0.2, seed: 0 },
      { test_hosts: ['gamma.lab'], train_hosts: ['alpha'], val_frac: 0.5, seed: 17 },
      { test_hosts: [], train_hosts: [], val_frac: 0.35, seed: 123456 },
    ]
    const keys = ['0:val:alpha:ep00001', '7:label:beta:ep00042:3', '', 'ünïcode:val:h:e']
    const rows = Array.from({ length: data.rows }, (_, r) => [
      data.hosts[data.hostOf[r]],
      data.episodes[data.episodeOf[r]],
    ])
    writeFileSync(join(root, 'rows.json'), JSON.stringify({ rows, cases, keys }))
    const py = runPython(PYTHON_SPLIT, root) as { cases: string[][]; u: number[] }
    assert.deepEqual(
      keys.map((k) => uniformHash(k)),
      py.u,
    )
    cases.forEach((params, i) => {
      const split = splitRows(data, params)
      const ours = new Array<string>(data.rows).fill('none')
      for (const r of split.train) ours[r] = 'train'
      for (const r of split.val) ours[r] = 'val'
      for (const r of split.test) ours[r] = 'test'
      assert.deepEqual(ours, py.cases[i], `case ${i}`)
      assert.ok(split.val.length > 0 && split.train.length > 0, `case ${i} has train and val rows`)
    })
  })
})
