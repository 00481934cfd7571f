import { randomBytes } from 'node:crypto'
import type { Libp2p } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { encodeFrameHeader, FrameDecoder } from '../../node/net/index.ts'
import { BitswapMessage } from '../../node_modules/@helia/bitswap/dist/src/pb/message.js'

const BITSWAP = '/ipfs/bitswap/1.2.0'
const IDENTITY = 0x00

function uvarint(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/** A bitswap block prefix: CID version, codec, hash function and digest length. */
function prefix(version: number, codec: number, hash: number, length: number): Uint8Array {
  return Uint8Array.from([...uvarint(version), ...uvarint(codec), ...uvarint(hash), ...uvarint(length)])
}

/**
 * Makes a libp2p host answer every bitswap want with forged blocks, two per wanted CID: the
 * CID's own prefix (sha2-256) with random bytes, and an `identity` prefix whose "block" is
 * the wanted digest itself (so that a receiver who compared digests only, and trusted the
 * hash function the sender names, would take 32 bytes of digest as the block).
 */
export async function serveForgedBlocks(libp2p: Libp2p): Promise<{ readonly forged: () => number }> {
  let forged = 0
  await libp2p.handle(
    BITSWAP,
    (stream, connection) => {
      const decoder = new FrameDecoder(4 * 1024 * 1024)
      stream.addEventListener('message', (evt) => {
        const data = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
        try {
          decoder.push(data, (frame) => {
            const wanted = (BitswapMessage.decode(frame).wantlist?.entries ?? [])
              .filter((e) => !e.cancel)
              .map((e) => CID.decode(e.cid))
            if (wanted.length === 0) return
            const blocks = wanted.flatMap((cid) => [
              {
                prefix: prefix(cid.version, cid.code, cid.multihash.code, cid.multihash.size),
                data: randomBytes(Math.max(64, cid.multihash.size)),
              },
              { prefix: prefix(cid.version, cid.code, IDENTITY, cid.multihash.size), data: cid.multihash.digest },
            ])
            forged += blocks.length
            void reply(libp2p, connection.remotePeer, BitswapMessage.encode({ blocks })).catch(() => {})
          })
        } catch {
          stream.abort(new Error('bad frame'))
        }
      })
    },
    { runOnLimitedConnection: true },
  )
  return { forged: () => forged }
}

async function reply(libp2p: Libp2p, peer: Parameters<Libp2p['dialProtocol']>[0], message: Uint8Array) {
  const stream = await libp2p.dialProtocol(peer, BITSWAP)
  const header = encodeFrameHeader(message.length)
  const frame = new Uint8Array(header.length + message.length)
  frame.set(header)
  frame.set(message, header.length)
  if (!stream.send(frame)) await new Promise((r) => stream.addEventListener('drain', r, { once: true }))
  await stream.close()
}
