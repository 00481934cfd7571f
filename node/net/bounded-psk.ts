import type { ConnectionProtector, MessageStream } from '@libp2p/interface'
import { preSharedKey } from '@libp2p/pnet'
import { SwarmKeyError } from './errors.ts'

/** The largest write pnet's cipher sees at once. */
export const PNET_MAX_WRITE_BYTES = 64 * 1024

const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/'

/**
 * Checks swarm key file bytes: `/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex digits.
 *
 * @throws {@link SwarmKeyError} naming what is wrong.
 */
export function checkSwarmKey(swarmKey: Uint8Array | undefined): void {
  if (swarmKey == null || swarmKey.byteLength === 0) throw new SwarmKeyError()
  const lines = new TextDecoder().decode(swarmKey).split(/\r\n|\r|\n/)
  if (lines[0] !== SWARM_KEY_HEADER) {
    throw new SwarmKeyError(
      `swarm key: expected the first line "${SWARM_KEY_HEADER}"; generate one with \`cis490-node keygen --swarm\``,
    )
  }
  if (lines[1] !== '/base16/') throw new SwarmKeyError('swarm key: expected the second line "/base16/"')
  if (!/^[0-9a-fA-F]{64}$/.test(lines[2] ?? '')) {
    throw new SwarmKeyError('swarm key: expected 64 hexadecimal digits on the third line')
  }
}

/**
 * `@libp2p/pnet`'s `preSharedKey`, with every protected connection's writes cut into pieces
 * of at most {@link PNET_MAX_WRITE_BYTES}.
 *
 * @remarks
 * pnet encrypts its whole pending write buffer in one xsalsa20 `update()`, and all xsalsa20
 * instances share one WebAssembly memory whose cached views go stale when another instance
 * grows it: megabyte writes ratchet that memory to its 64 MB cap and abort the connection
 * (FINDINGS.md, "Why bitswap stalls through pnet"). `maxMessageSize` on the stream that
 * `protect()` returns makes the base stream class chunk writes before they reach the cipher.
 */
export function boundedPreSharedKey(swarmKey: Uint8Array): () => ConnectionProtector {
  checkSwarmKey(swarmKey)
  const factory = preSharedKey({ psk: swarmKey })
  return () => {
    const inner = factory()
    return {
      async protect(connection, options): Promise<MessageStream> {
        const stream = await inner.protect(connection, options)
        ;(stream as MessageStream & { maxMessageSize?: number }).maxMessageSize = PNET_MAX_WRITE_BYTES
        return stream
      },
    }
  }
}
