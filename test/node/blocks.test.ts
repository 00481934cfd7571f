import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { MemoryBlockstore } from 'blockstore-core'
import { importBundle } from '../../models/bundle/index.ts'
import { BlockPeers, readTree, swarmKey, waitFor, writeTree } from './blocks-fixture.ts'

describe('BlockService: two peers in one private network', () => {
  const peers = new BlockPeers()
  after(() => peers.close())

  it('imports a directory on A (the CID models/bundle computes), B fetches it by CID and exports identical files', async () => {
    const key = swarmKey()
    const a = await peers.start(key)
    const b = await peers.start(key, { bootstrap: a.net.addresses() })
    await waitFor('a connection', () => b.net.connectedPeers().includes(a.net.peerId))
    const src = await peers.tempDir()
    await writeTree(src, {
      'bundle.json': new TextEncoder().encode('{"format":"cis490-bundle/1"}'),
      'README.md': new TextEncoder().encode('# a bundle\n'),
      'model.bin': 3 * 1024 * 1024 + 17,
      'weights/part-1.bin': 300_000,
      'weights/empty.bin': 0,
    })
    const imported = await a.blocks.importDirectory(src)
    assert.equal(imported.cid, await importBundle(src, new MemoryBlockstore()))
    assert.ok(imported.blocks > 15)
    assert.equal(imported.newBlocks, imported.blocks)
    let progress = { blocks: 0, bytes: 0 }
    await b.blocks.fetch(imported.cid, {
      timeoutMs: 20_000,
      onProgress: (blocks, bytes) => {
        progress = { blocks, bytes }
      },
    })
    assert.deepEqual(progress, { blocks: imported.blocks, bytes: imported.bytes })
    assert.equal(await b.blocks.has(imported.cid), true)
    const out = join(await peers.tempDir(), 'out')
    await b.blocks.exportDirectory(imported.cid, out)
    assert.deepEqual(await readTree(out), await readTree(src))
    assert.equal(b.blocks.stats().fetchedBlocks, imported.blocks)
  })
})
