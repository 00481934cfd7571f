import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { BlockService } from '../../node/blocks/index.ts'
import { FleetNet } from '../../node/net/index.ts'
import { BlockPeers, logger, readTree, swarmKey, waitFor, writeTree } from './blocks-fixture.ts'

// A provider that restarts (same peer id, same block store, new port) connects before its
// bitswap runs: peers that identified it then must still ask it for blocks.
describe('a provider that restarts still serves its blocks', { timeout: 120_000 }, () => {
  const peers = new BlockPeers()
  const own: { net: FleetNet; blocks: BlockService }[] = []
  after(async () => {
    for (const p of own) {
      await p.blocks.stop().catch(() => {})
      await p.net.stop().catch(() => {})
    }
    await peers.close()
  })

  /** The provider: its network first (it dials its bootstrap peers at once), then its block service. */
  async function provider(key: Uint8Array, privateKey: Ed25519PrivateKey, dir: string, bootstrap: string[]) {
    const net = new FleetNet(
      { logger },
      { privateKey, swarmKey: key, fleet: 'test', listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, mdns: false },
    )
    await net.start()
    const blocks = new BlockService({ libp2p: net.libp2p, logger }, { dir: join(dir, 'blocks') })
    const p = { net, blocks }
    own.push(p)
    await blocks.start()
    return p
  }

  it('to a peer that knew it before, and to a fetch that began while it was down', async () => {
    const key = swarmKey()
    const a = await peers.start(key)
    const privateKey = await generateKeyPair('Ed25519')
    const dir = await peers.tempDir()
    let b = await provider(key, privateKey, dir, a.net.addresses())
    const src = await peers.tempDir()
    await writeTree(src, { 'model.bin': 600_000, 'bundle.json': 200 })
    const { cid } = await b.blocks.importDirectory(src)
    await b.blocks.pin(cid)
    await waitFor('a connected to b', () => a.net.libp2p.getPeers().some((p) => p.toString() === b.net.peerId))
    await b.blocks.stop()
    await b.net.stop()

    const c = await peers.start(key, { bootstrap: a.net.addresses() })
    const early = c.blocks.fetch(cid, { timeoutMs: 40_000, providers: [b.net.peerId] })
    await new Promise((r) => setTimeout(r, 1000))
    b = await provider(key, privateKey, dir, [...a.net.addresses(), ...c.net.addresses()])
    await early
    const out = join(await peers.tempDir(), 'out')
    await c.blocks.exportDirectory(cid, out)
    assert.deepEqual(await readTree(out), await readTree(src))
    await a.blocks.fetch(cid, { timeoutMs: 40_000 })
    assert.equal(await a.blocks.has(cid), true, 'a, which knew the old b, fetched from the new one')
  })
})
