import { randomBytes } from 'node:crypto'
import type { AbortOptions, ConnectionProtector, MessageStream, MultiaddrConnection } from '@libp2p/interface'
import { AbstractMultiaddrConnection, byteStream, type SendResult } from '@libp2p/utils'
import { SwarmKeyError } from './errors.ts'
import { XSalsa20Stream } from './xsalsa20-simd.ts'

/** The largest write the cipher and the socket see at once. */
export const PNET_MAX_WRITE_BYTES = 64 * 1024

/** Bytes of the nonce each side sends first (`@libp2p/pnet`'s `NONCE_LENGTH`). */
const NONCE_BYTES = 24
/** How long the nonce exchange may take when the upgrader gives no signal (pnet's default). */
const NONCE_TIMEOUT_MS = 1000

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
 * The private network of `@libp2p/pnet` (the same bytes on the wire: each side sends a random
 * 24-byte nonce, then XORs everything with XSalsa20 under the swarm key and its own nonce),
 * with a faster cipher and writes of at most {@link PNET_MAX_WRITE_BYTES}.
 *
 * @remarks
 * Stock pnet runs the `xsalsa20` package, whose instances share one WebAssembly memory whose
 * cached views go stale when another instance grows it: pnet encrypting whole multi-megabyte
 * write buffers ratchets that memory to its 64 MB cap and aborts the connection (FINDINGS.md,
 * "Why bitswap stalls through pnet"). Capping pnet's writes (`maxMessageSize`) avoided that
 * but left the cipher as the largest cost pnet adds: ~230 MB per CPU second against
 * Noise's ~1,200. This protector keeps pnet's protocol and uses {@link XSalsa20Stream}
 * (SIMD, ~2x the CPU throughput in a microbenchmark, a fixed memory that never grows); stock pnet peers interoperate
 * (test/node/net*.test.ts, test/node/blocks*.test.ts).
 */
export function boundedPreSharedKey(swarmKey: Uint8Array): () => ConnectionProtector {
  checkSwarmKey(swarmKey)
  const psk = new Uint8Array(Buffer.from(new TextDecoder().decode(swarmKey).split(/\r\n|\r|\n/)[2], 'hex'))
  return () => ({
    async protect(connection: MessageStream, options?: AbortOptions): Promise<MessageStream> {
      const log = connection.log.newScope('pnet')
      const localNonce = new Uint8Array(randomBytes(NONCE_BYTES))
      const opts = options ?? { signal: AbortSignal.timeout(NONCE_TIMEOUT_MS) }
      const bytes = byteStream(connection)
      const [remote] = await Promise.all([bytes.read({ bytes: NONCE_BYTES, ...opts }), bytes.write(localNonce, opts)])
      log('exchanged nonces')
      return new PskStream(bytes.unwrap() as MultiaddrConnection, psk, localNonce, remote.subarray(), log)
    },
  })
}

/** A connection seen through the private network: XSalsa20 in both directions. */
class PskStream extends AbstractMultiaddrConnection {
  readonly #inner: MultiaddrConnection
  readonly #inbound: XSalsa20Stream
  readonly #outbound: XSalsa20Stream

  constructor(
    inner: MultiaddrConnection,
    psk: Uint8Array,
    localNonce: Uint8Array,
    remoteNonce: Uint8Array,
    log: MultiaddrConnection['log'],
  ) {
    super({ log, remoteAddr: inner.remoteAddr, direction: inner.direction, maxMessageSize: PNET_MAX_WRITE_BYTES })
    this.#inner = inner
    this.#inbound = new XSalsa20Stream(remoteNonce, psk)
    this.#outbound = new XSalsa20Stream(localNonce, psk)
    inner.addEventListener('message', (evt) => {
      const data = evt.data
      if (data instanceof Uint8Array) this.onData(this.#inbound.update(data))
      else for (const buf of data) this.onData(this.#inbound.update(buf))
    })
    inner.addEventListener('drain', () => this.onMuxerDrain())
    inner.addEventListener('close', (evt) => {
      if (evt.error == null) this.onTransportClosed()
      else if (evt.local) this.abort(evt.error)
      else this.onRemoteReset()
    })
  }

  async sendClose(options?: AbortOptions): Promise<void> {
    await this.#inner.close(options)
  }

  sendData(data: Parameters<AbstractMultiaddrConnection['sendData']>[0]): SendResult {
    return { sentBytes: data.byteLength, canSendMore: this.#inner.send(this.#outbound.update(data.subarray())) }
  }

  sendReset(err: Error): void {
    this.#inner.abort(err)
  }

  sendPause(): void {
    this.#inner.pause()
  }

  sendResume(): void {
    this.#inner.resume()
  }
}
