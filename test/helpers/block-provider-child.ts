// A block provider in a process of its own, so that a test can make it vanish the hard way
// (SIGKILL: no goodbye on any stream or connection). It imports SIZE random bytes as a
// bundle directory under DIR, prints {"address", "cid", "blocks"} as one JSON line and
// serves until killed. Usage: node block-provider-child.ts DIR SWARM_KEY_HEX SIZE
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import pino from 'pino'
import { BlockService } from '../../node/blocks/index.ts'
import { FleetNet } from '../../node/net/index.ts'
import { writeTree } from '../node/blocks-fixture.ts'

const [dir, keyHex, size] = process.argv.slice(2)
const logger = pino({ level: 'silent' })
const net = new FleetNet(
  { logger },
  {
    privateKey: await generateKeyPair('Ed25519'),
    swarmKey: new Uint8Array(Buffer.from(keyHex, 'hex')),
    fleet: 'test',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
  },
)
await net.start()
const blocks = new BlockService({ libp2p: net.libp2p, logger }, { dir: join(dir, 'blocks') })
await blocks.start()
await writeTree(join(dir, 'src'), { 'model.bin': Number(size) })
const { cid, blocks: count } = await blocks.importDirectory(join(dir, 'src'))
process.stdout.write(`${JSON.stringify({ address: net.addresses()[0], cid, blocks: count })}\n`)
setInterval(() => {}, 1000)
