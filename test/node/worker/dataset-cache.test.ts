import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as digestOf } from 'multiformats/hashes/digest'
import { DatasetCache } from '../../../node/worker/dataset-cache.ts'
import { makeSyntheticDataset } from '../../helpers/dataset-fixture.ts'
import { type BlockPeer, BlockPeers, logger, readTree, swarmKey, waitFor, writeTree } from '../blocks-fixture.ts'

// A fleet dataset given by CID: fetched from a peer over bitswap through the private network,
// checked, cached as files under datasets/<CID>, once.
describe('DatasetCache', { timeout: 120_000 }, () => {
  const peers = new BlockPeers()
  let source: BlockPeer
  let fetcher: BlockPeer
  let datasetDir: string
  let datasetCid: string
  let notDatasetCid: string

  before(async () => {
    const key = swarmKey()
    source = await peers.start(key)
    fetcher = await peers.start(key, { bootstrap: source.net.addresses() })
    datasetDir = join(await peers.tempDir(), 'data')
    await makeSyntheticDataset(datasetDir)
    datasetCid = (await source.blocks.importDirectory(datasetDir)).cid
    const junk = await peers.tempDir()
    await writeTree(junk, { 'dataset.toml': new TextEncoder().encode('name = 3\n'), 'x.csv': 100 })
    notDatasetCid = (await source.blocks.importDirectory(junk)).cid
    await waitFor('the peers connected', () => fetcher.net.libp2p.getPeers().length > 0)
  })
  after(() => peers.close())

  it('fetches, checks and caches the dataset once; callers at once share the fetch; a restart fetches nothing', async () => {
    const dir = join(fetcher.dir, 'datasets')
    const cache = new DatasetCache({ blocks: fetcher.blocks, logger }, { cid: datasetCid, dir })
    const [p1, p2] = await Promise.all([cache.ready(), cache.ready()])
    assert.equal(p1, join(dir, datasetCid))
    assert.equal(p2, p1)
    assert.deepEqual(await readTree(p1), await readTree(datasetDir), 'the same files, byte for byte')
    assert.ok(fetcher.blocks.pins().includes(datasetCid), 'the dataset is pinned')
    const fetched = fetcher.blocks.stats().fetchedBlocks
    assert.ok(fetched > 0)
    assert.equal(await cache.ready(), p1)
    const restarted = new DatasetCache({ blocks: fetcher.blocks, logger }, { cid: datasetCid, dir })
    assert.equal(await restarted.ready(), p1)
    assert.equal(fetcher.blocks.stats().fetchedBlocks, fetched, 'no block fetched again')
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('.')),
      [],
      'no temporary export left behind',
    )
  })

  it('refuses a CID whose files are not a dataset, and leaves nothing in datasets/', async () => {
    const dir = join(fetcher.dir, 'datasets-bad')
    const cache = new DatasetCache({ blocks: fetcher.blocks, logger }, { cid: notDatasetCid, dir })
    await assert.rejects(cache.ready(), (err: Error) => {
      assert.match(err.message, new RegExp(`the fleet dataset ${notDatasetCid} is not a usable dataset`))
      return true
    })
    assert.equal(existsSync(join(dir, notDatasetCid)), false)
    assert.deepEqual(readdirSync(dir), [])
  })

  it('a CID nobody has fails within its timeout, naming the CID; a caller that gives up is released at once', async () => {
    const missing = CID.createV1(
      raw.code,
      digestOf(0x12, createHash('sha256').update(randomBytes(8)).digest()),
    ).toString()
    const cache = new DatasetCache(
      { blocks: fetcher.blocks, logger },
      { cid: missing, dir: join(fetcher.dir, 'datasets-missing'), fetchTimeoutMs: 1500 },
    )
    const gaveUp = new AbortController()
    const first = cache.ready({ signal: gaveUp.signal })
    gaveUp.abort(new Error('run stopped'))
    await assert.rejects(first, /run stopped/)
    await assert.rejects(
      cache.ready(),
      new RegExp(`could not fetch the fleet dataset ${missing}: .*timed out after 1500 ms`),
    )
  })
})
