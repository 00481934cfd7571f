import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { withBitswap } from '@helia/bitswap'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import { MemoryBlockstore } from 'blockstore-core'
import { FsBlockstore } from 'blockstore-fs'
import { createHeliaLight } from 'helia'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import { importBundle } from '../../models/bundle/index.ts'
import {
  BadCidError,
  BlockExportError,
  BlockFetchError,
  BlockService,
  BlockServiceNotStartedError,
  IncompleteDagError,
  linksOf,
} from '../../node/blocks/index.ts'
import { watchXsalsa20 } from '../helpers/xsalsa20-watch.ts'
import { BlockPeers, logger, readTree, swarmKey, waitFor, writeTree } from './blocks-fixture.ts'

const cipher = watchXsalsa20()
const MiB = 1024 * 1024

async function readBlock(store: FsBlockstore, cid: CID): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of store.get(cid)) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** The CID of the `index`-th leaf of the file `name` in a directory DAG stored in `dir`. */
async function leafOf(dir: string, root: string, name: string, index: number): Promise<CID> {
  const store = new FsBlockstore(dir)
  await store.open()
  const rootCid = CID.parse(root)
  const { decode } = await import('@ipld/dag-pb')
  const link = decode(await readBlock(store, rootCid)).Links.find((l) => l.Name === name)
  assert.ok(link, `${name} in the root`)
  const leaves = linksOf(link.Hash, await readBlock(store, link.Hash))
  return leaves[index]
}

describe('BlockService: peers in one private network', () => {
  const peers = new BlockPeers()
  const key = swarmKey()
  after(() => peers.close())

  it('imports a directory on A (the CID models/bundle computes), B fetches it by CID and exports identical files', async () => {
    const a = await peers.start(key)
    const b = await peers.start(key, { bootstrap: a.net.addresses() })
    await waitFor('a connection', () => b.net.connectedPeers().includes(a.net.peerId))
    const src = await peers.tempDir()
    await writeTree(src, {
      'bundle.json': new TextEncoder().encode('{"format":"cis490-bundle/1"}'),
      'README.md': new TextEncoder().encode('# a bundle\n'),
      'model.bin': 3 * MiB + 17,
      'weights/part-1.bin': 300_000,
      'weights/empty.bin': 0,
    })
    const imported = await a.blocks.importDirectory(src)
    assert.equal(imported.cid, await importBundle(src, new MemoryBlockstore()))
    assert.ok(imported.blocks > 15)
    assert.equal(imported.newBlocks, imported.blocks)
    assert.equal(await b.blocks.has(imported.cid), false)
    let progress = { blocks: 0, bytes: 0 }
    await b.blocks.fetch(imported.cid, {
      timeoutMs: 30_000,
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
    assert.equal(b.blocks.stats().rejectedBlocks, 0)
    // a throwing progress callback fails that fetch (no unhandled rejection, no wants left behind)
    const c = await peers.start(key, { bootstrap: a.net.addresses() })
    await assert.rejects(
      c.blocks.fetch(imported.cid, {
        timeoutMs: 30_000,
        onProgress: () => {
          throw new Error('progress bar broke')
        },
      }),
      /progress bar broke/,
    )
    await assert.rejects(b.blocks.exportDirectory(imported.cid, out), BlockExportError, 'an existing target is refused')
    // a second fetch of a stored DAG asks nobody
    await b.blocks.fetch(imported.cid, { timeoutMs: 5000 })
    assert.equal(b.blocks.stats().fetchedBlocks, imported.blocks)
  })

  it('bit-identical re-imports give the same CID and are stored once; pins survive a restart', async () => {
    const a = await peers.start(key)
    const src = await peers.tempDir()
    // zeros: the file's leaves are all one block, linked eight times
    await writeTree(src, {
      'model.bin': 2 * MiB,
      'zeros.bin': new Uint8Array(2 * MiB),
      'bundle.json': new TextEncoder().encode('{}'),
    })
    const copy = await peers.tempDir()
    await writeTree(copy, Object.fromEntries((await readTree(src)).entries()))
    const first = await a.blocks.importDirectory(src)
    const stored = a.blocks.stats()
    const again = await a.blocks.importDirectory(src)
    const fromCopy = await a.blocks.importDirectory(copy)
    assert.equal(again.cid, first.cid)
    assert.equal(fromCopy.cid, first.cid)
    assert.equal(again.newBlocks, 0)
    assert.equal(fromCopy.newBlocks, 0)
    assert.equal(a.blocks.stats().storedBlocks, stored.storedBlocks)
    assert.equal(a.blocks.stats().storedBytes, stored.storedBytes)
    assert.equal(stored.storedBytes, first.bytes)
    assert.equal(stored.storedBlocks, first.blocks)
    // a peer fetching it wants the repeated block once and counts every distinct block once
    const b = await peers.start(key, { bootstrap: a.net.addresses() })
    let progress = 0
    await b.blocks.fetch(first.cid, { timeoutMs: 30_000, onProgress: (n) => (progress = n) })
    assert.equal(progress, first.blocks)
    assert.equal(b.blocks.stats().fetchedBlocks, first.blocks)
    assert.equal(b.blocks.stats().storedBytes, first.bytes)
    await a.blocks.pin(first.cid)
    await a.blocks.stop()
    await a.blocks.stop()
    await assert.rejects(a.blocks.has(first.cid), BlockServiceNotStartedError)
    await a.blocks.start()
    await a.blocks.start()
    assert.deepEqual(a.blocks.pins(), [first.cid])
    assert.equal(a.blocks.stats().storedBlocks, stored.storedBlocks, 'recounted from disk')
    assert.equal(a.blocks.stats().storedBytes, stored.storedBytes)
    await a.blocks.unpin(first.cid)
    assert.deepEqual(a.blocks.pins(), [])
  })

  it('concurrent pins are all on disk: every write lists the set as it stands, one write at a time', async () => {
    const a = await peers.start(key)
    const roots: string[] = []
    for (let i = 0; i < 12; i++) {
      const dir = await peers.tempDir()
      await writeTree(dir, { 'f.bin': new TextEncoder().encode(`file ${i}`) })
      roots.push((await a.blocks.importDirectory(dir)).cid)
    }
    await Promise.all(roots.map((cid) => a.blocks.pin(cid)))
    const onDisk = JSON.parse(await readFile(join(a.dir, 'blocks', 'pins.json'), 'utf8')) as string[]
    assert.deepEqual(onDisk, [...roots].sort())
    await Promise.all(roots.slice(0, 6).map((cid) => a.blocks.unpin(cid)))
    const after = JSON.parse(await readFile(join(a.dir, 'blocks', 'pins.json'), 'utf8')) as string[]
    assert.deepEqual(after, roots.slice(6).sort())
  })

  it('refuses bad input naming it', async () => {
    const a = await peers.start(key)
    await assert.rejects(a.blocks.fetch('not-a-cid'), (err: Error) => {
      assert.ok(err instanceof BadCidError)
      assert.match(err.message, /not-a-cid/)
      return true
    })
    const json = CID.create(
      1,
      0x0129,
      CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy').multihash,
    ).toString()
    await assert.rejects(a.blocks.fetch(json), /codec 0x129/)
    await assert.rejects(
      a.blocks.pin('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'),
      IncompleteDagError,
    )
    const parent = await peers.tempDir()
    const missing = join(parent, 'never')
    await assert.rejects(
      a.blocks.exportDirectory('bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi', missing),
      (err: Error) => err instanceof BlockExportError && /fetch it first/.test(err.message),
    )
    assert.deepEqual(await readdir(parent), [], 'no partial directory is left')
    const idle = new BlockService({ libp2p: a.net.libp2p, logger }, { dir: await peers.tempDir() })
    await idle.stop()
    await assert.rejects(idle.importDirectory('/nonexistent'), BlockServiceNotStartedError)
    assert.throws(() => new BlockService({ libp2p: a.net.libp2p, logger }, { dir: 'x', wantWindow: 0 }), /wantWindow/)
  })

  it('a provider with a tampered block is refused; the block comes from another provider', async () => {
    const good = await peers.start(key)
    const bad = await peers.start(key)
    const src = await peers.tempDir()
    await writeTree(src, { 'model.bin': 4 * MiB, 'bundle.json': new TextEncoder().encode('{"x":1}') })
    const { cid } = await good.blocks.importDirectory(src)
    assert.equal((await bad.blocks.importDirectory(src)).cid, cid)
    const victim = await leafOf(join(bad.dir, 'blocks'), cid, 'model.bin', 3)
    const badStore = new FsBlockstore(join(bad.dir, 'blocks'))
    const wrong = new Uint8Array(256 * 1024).fill(0xee)
    await badStore.put(victim, wrong)
    assert.deepEqual(await readBlock(badStore, victim), Buffer.from(wrong), 'the tamper took')

    // only the tampered provider: the fetch refuses its block and times out naming it
    const fetcher = await peers.start(key, { bootstrap: bad.net.addresses(), init: { wantRetryMs: 1000 } })
    await waitFor('fetcher and bad provider connected', () => fetcher.net.connectedPeers().includes(bad.net.peerId))
    const started = Date.now()
    await assert.rejects(fetcher.blocks.fetch(cid, { timeoutMs: 4000 }), (err: Error) => {
      assert.ok(err instanceof BlockFetchError, String(err))
      assert.deepEqual(err.missing, [victim.toString()])
      assert.match(err.message, new RegExp(`fetch ${cid}: timed out after 4000 ms`))
      assert.match(err.message, new RegExp(victim.toString()))
      return true
    })
    assert.ok(Date.now() - started < 4000 + 2000, `failed after ${Date.now() - started} ms`)
    const fetcherStore = new FsBlockstore(join(fetcher.dir, 'blocks'))
    assert.equal(await fetcherStore.has(victim), false, 'the bad bytes were never stored')

    // with the honest provider (dialled through `providers`) the same fetch completes with the right bytes
    await fetcher.blocks.fetch(cid, { timeoutMs: 20_000, providers: good.net.addresses() })
    assert.ok(fetcher.net.connectedPeers().includes(good.net.peerId))
    const out = join(await peers.tempDir(), 'out')
    await fetcher.blocks.exportDirectory(cid, out)
    assert.deepEqual(await readTree(out), await readTree(src))
  })

  it('a fetch whose only provider stops fails within its timeout, naming the CID and what is missing', async () => {
    const provider = await peers.start(key)
    const src = await peers.tempDir()
    await writeTree(src, { 'model.bin': 48 * MiB })
    const { cid, blocks } = await provider.blocks.importDirectory(src)
    const fetcher = await peers.start(key, { bootstrap: provider.net.addresses(), init: { wantWindow: 1 } })
    await waitFor('connected', () => fetcher.net.connectedPeers().includes(provider.net.peerId))
    let stopping: Promise<void> | undefined
    const timeoutMs = 5000
    const started = Date.now()
    await assert.rejects(
      fetcher.blocks.fetch(cid, {
        timeoutMs,
        onProgress: (done) => {
          if (done >= 4) stopping ??= peers.stopPeer(provider)
        },
      }),
      (err: Error) => {
        assert.ok(err instanceof BlockFetchError, String(err))
        assert.equal(err.cid, cid)
        assert.ok(err.missing.length > 0)
        assert.match(err.message, new RegExp(`^fetch ${cid}: timed out after ${timeoutMs} ms with \\d+ blocks`))
        assert.match(err.message, /never arrived/)
        return true
      },
    )
    const elapsed = Date.now() - started
    assert.ok(stopping != null, 'the provider was stopped mid-fetch')
    await stopping
    assert.ok(elapsed >= timeoutMs - 50 && elapsed < timeoutMs + 2000, `failed after ${elapsed} ms`)
    assert.ok(fetcher.blocks.stats().fetchedBlocks < blocks)
  })

  it('a fetch survives its provider vanishing when another provider connects', async () => {
    const first = await peers.start(key)
    const second = await peers.start(key)
    const src = await peers.tempDir()
    await writeTree(src, { 'model.bin': 24 * MiB })
    const { cid } = await first.blocks.importDirectory(src)
    await second.blocks.importDirectory(src)
    const fetcher = await peers.start(key, {
      bootstrap: first.net.addresses(),
      init: { wantWindow: 1, wantRetryMs: 1000 },
    })
    await waitFor('connected', () => fetcher.net.connectedPeers().includes(first.net.peerId))
    let switching: Promise<void> | undefined
    await fetcher.blocks.fetch(cid, {
      timeoutMs: 30_000,
      onProgress: (done) => {
        if (done === 4) {
          switching = peers
            .stopPeer(first)
            .then(() => fetcher.net.libp2p.dial(second.net.libp2p.getMultiaddrs()[0]))
            .then(() => {})
        }
      },
    })
    await switching
    assert.ok(!fetcher.net.connectedPeers().includes(first.net.peerId))
    const out = join(await peers.tempDir(), 'out')
    await fetcher.blocks.exportDirectory(cid, out)
    assert.deepEqual(await readTree(out), await readTree(src))
  })

  it('a stock Helia bitswap node on a fleet host fetches a bundle from a BlockService by CID, and serves one to it', async (t) => {
    const provider = await peers.start(key)
    const src = await peers.tempDir()
    await writeTree(src, { 'model.bin': 2 * MiB + 5, 'bundle.json': new TextEncoder().encode('{"stock":1}') })
    const { cid } = await provider.blocks.importDirectory(src)
    const client = await peers.start(key, { bootstrap: provider.net.addresses() })
    await client.blocks.stop()
    const helia = createHeliaLight({ blockstore: new MemoryBlockstore(), logger: client.net.libp2p.logger })
    Object.defineProperty(helia, 'libp2p', { value: client.net.libp2p, enumerable: true, configurable: true })
    withBitswap(helia as HeliaWithLibp2p)
    await helia.start()
    t.after(() => helia.stop())
    const root = await exporter(CID.parse(cid), helia.blockstore, { signal: AbortSignal.timeout(20_000) })
    assert.equal(root.type, 'directory')
    const got = new Map<string, Buffer>()
    for await (const link of root.entries()) {
      const file = await exporter(link.cid, helia.blockstore, { signal: AbortSignal.timeout(20_000) })
      assert.ok(file.type === 'file' || file.type === 'raw')
      const chunks: Uint8Array[] = []
      for await (const chunk of file.content()) chunks.push(chunk)
      got.set(link.name, Buffer.concat(chunks))
    }
    assert.deepEqual(got, await readTree(src))

    // and the other way: a BlockService fetches from the stock node (its replies come in 4 MiB frames)
    const other = await peers.tempDir()
    await writeTree(other, { 'model.bin': 9 * MiB })
    const stockCid = await importBundle(other, helia.blockstore)
    await provider.blocks.fetch(stockCid, { timeoutMs: 20_000, providers: client.net.addresses() })
    const out = join(await peers.tempDir(), 'out')
    await provider.blocks.exportDirectory(stockCid, out)
    assert.deepEqual(await readTree(out), await readTree(other))
  })

  it("a provider's bitswap streams buffer at most about one message frame, even for a long want list", async (t) => {
    const a = await peers.start(key)
    // a second block service on A's host, seen through a view that records every dialled stream's write buffer
    let maxBuffered = 0
    let streams = 0
    const watched = new Proxy(a.net.libp2p, {
      get(target, prop) {
        if (prop === 'dialProtocol') {
          return async (...dialArgs: Parameters<typeof target.dialProtocol>) => {
            const stream = await target.dialProtocol(...dialArgs)
            streams++
            const send = stream.send.bind(stream)
            stream.send = (data) => {
              const ok = send(data)
              maxBuffered = Math.max(maxBuffered, stream.writeBufferLength)
              return ok
            }
            return stream
          }
        }
        const value = Reflect.get(target, prop, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    await a.blocks.stop()
    const frame = 256 * 1024 + 1024
    const provider = new BlockService(
      { libp2p: watched, logger },
      { dir: join(a.dir, 'blocks'), maxMessageBytes: frame, maxWantsPerPeer: 1024 },
    )
    await provider.start()
    t.after(() => provider.stop())
    const src = await peers.tempDir()
    await writeTree(src, { 'model.bin': 40 * MiB })
    const { cid, bytes } = await provider.importDirectory(src)
    const b = await peers.start(key, { bootstrap: a.net.addresses(), init: { wantWindow: 512 } })
    await b.blocks.fetch(cid, { timeoutMs: 60_000 })
    assert.equal(b.blocks.stats().fetchedBytes, bytes)
    t.diagnostic(`largest bitswap write buffer on the provider: ${maxBuffered} B over ${streams} streams`)
    assert.ok(streams > 0)
    // without waiting for drains a reply of 160 wanted leaves (40 MiB) sat in one stream's buffer
    assert.ok(maxBuffered <= 4 * frame, `a provider stream buffered ${maxBuffered} B`)
  })

  it('a 200 MB bundle through the private network completes; cipher writes stay bounded', async (t) => {
    const a = await peers.start(key)
    const b = await peers.start(key, { bootstrap: a.net.addresses() })
    await waitFor('a connection', () => b.net.connectedPeers().includes(a.net.peerId))
    const src = await peers.tempDir()
    const size = 200 * 1000 * 1000
    await writeTree(src, { 'model.bin': size, 'bundle.json': new TextEncoder().encode('{"big":true}') })
    const imported = await a.blocks.importDirectory(src)
    let peakRss = process.memoryUsage().rss
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
    }, 50)
    const started = performance.now()
    try {
      await b.blocks.fetch(imported.cid, { timeoutMs: 120_000 })
    } finally {
      clearInterval(sampler)
    }
    const seconds = (performance.now() - started) / 1000
    t.diagnostic(
      `200 MB through pnet (both peers in this process): ${seconds.toFixed(2)} s = ${(imported.bytes / 1e6 / seconds).toFixed(1)} MB/s; ` +
        `peak RSS ${(peakRss / 1e6).toFixed(0)} MB; largest cipher update ${cipher.maxUpdate} B, cipher memory ${cipher.maxMemory} B`,
    )
    assert.equal(b.blocks.stats().fetchedBytes, imported.bytes)
    assert.ok(cipher.maxUpdate > 0 && cipher.maxUpdate <= 64 * 1024, `largest cipher update ${cipher.maxUpdate} B`)
    assert.ok(cipher.maxMemory <= MiB, `cipher memory grew to ${cipher.maxMemory} B`)
    assert.ok(peakRss < 1.5e9, `peak RSS ${peakRss} B`)
    const out = join(await peers.tempDir(), 'out')
    await b.blocks.exportDirectory(imported.cid, out)
    assert.deepEqual(await readTree(out), await readTree(src))
  })
})
