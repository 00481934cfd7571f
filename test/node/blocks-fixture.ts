import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generateKey } from '@libp2p/pnet'
import pino from 'pino'
import { BlockService, type BlockServiceInit } from '../../node/blocks/index.ts'
import { FleetNet } from '../../node/net/index.ts'

/** Loopback only, mDNS off: nothing leaves this host. */
export const logger = pino({ level: 'silent' })

/** A fresh swarm.key file's bytes. */
export function swarmKey(): Uint8Array {
  const key = new Uint8Array(95)
  generateKey(key)
  return key
}

/** One fleet peer: its network, its block service and its data dir. */
export interface BlockPeer {
  net: FleetNet
  blocks: BlockService
  dir: string
}

/** Starts and tracks peers and temp dirs; `close()` stops and removes them all. */
export class BlockPeers {
  readonly peers: BlockPeer[] = []
  readonly dirs: string[] = []

  async tempDir(prefix = 'cis490-blocks-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    this.dirs.push(dir)
    return dir
  }

  async start(
    key: Uint8Array,
    opts: { bootstrap?: string[]; init?: Partial<BlockServiceInit> } = {},
  ): Promise<BlockPeer> {
    const dir = await this.tempDir()
    const net = new FleetNet(
      { logger },
      {
        privateKey: await generateKeyPair('Ed25519'),
        swarmKey: key,
        fleet: 'test',
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: opts.bootstrap ?? [],
        redialMinMs: 200,
        redialMaxMs: 1000,
        mdns: false,
      },
    )
    await net.start()
    const blocks = new BlockService({ libp2p: net.libp2p, logger }, { dir: join(dir, 'blocks'), ...opts.init })
    const peer = { net, blocks, dir }
    this.peers.push(peer)
    await blocks.start()
    return peer
  }

  /** Stops a peer's block service and network (it stays listed so that close() is a no-op for it). */
  async stopPeer(peer: BlockPeer): Promise<void> {
    await peer.blocks.stop()
    await peer.net.stop()
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.peers.map((p) => p.blocks.stop()))
    await Promise.allSettled(this.peers.map((p) => p.net.stop()))
    this.peers.length = 0
    await Promise.allSettled(this.dirs.map((d) => rm(d, { recursive: true, force: true })))
    this.dirs.length = 0
  }
}

/** Writes files (random bytes of the given sizes, or the given bytes) under `dir`. */
export async function writeTree(dir: string, files: Record<string, number | Uint8Array>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, ...name.split('/'))
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, typeof content === 'number' ? randomBytes(content) : content)
  }
}

/** Every file under `dir`, by relative path. */
export async function readTree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  for (const e of entries) {
    if (!e.isFile()) continue
    const path = join(e.parentPath, e.name)
    out.set(path.slice(dir.length + 1), await readFile(path))
  }
  return out
}

/** Polls `predicate` every 20 ms. */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
