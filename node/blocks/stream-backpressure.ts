import type { AbortOptions, Libp2p, Stream } from '@libp2p/interface'

/**
 * Waits until `stream` may take more data: at once when it does not need a drain, otherwise
 * at its next `drain` event. Rejects when the stream closes first or `signal` aborts.
 */
export function waitForDrain(
  stream: Stream & { writableNeedsDrain?: boolean },
  options: AbortOptions = {},
): Promise<void> {
  if (stream.writableNeedsDrain !== true) return Promise.resolve()
  const { signal } = options
  if (signal?.aborted === true) return Promise.reject(signal.reason)
  return new Promise<void>((resolve, reject) => {
    const done = (err?: unknown): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (err === undefined) resolve()
      else reject(err)
    }
    const onDrain = (): void => done()
    const onClose = (evt: Event): void => done((evt as Event & { error?: Error }).error ?? new Error('stream closed'))
    const onAbort = (): void => done(signal?.reason)
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
}

/**
 * A view of `libp2p` whose `dialProtocol` streams wait for a real `drain` in `onDrain()`;
 * every other member is the host's own.
 *
 * @remarks
 * In @libp2p/utils 7.4.1 `onDrain()` creates its promise once and never resets it, so after a
 * stream's first drain it resolves at once and a writer that trusts it (bitswap's message
 * sender) queues its whole reply in the stream's buffer (FINDINGS.md). Bitswap sends every
 * message on a stream it dials, so fixing those streams bounds what a provider buffers to
 * one frame beyond the muxer's window. The host itself is not changed: gossip and the
 * direct protocol keep their streams as they are.
 */
export function withStreamBackpressure<T extends Libp2p>(libp2p: T): T {
  const dialProtocol: Libp2p['dialProtocol'] = async (peer, protocols, options) => {
    const stream = await libp2p.dialProtocol(peer, protocols, options)
    stream.onDrain = (opts?: AbortOptions) => waitForDrain(stream, opts)
    return stream
  }
  return new Proxy(libp2p, {
    get(target, prop) {
      if (prop === 'dialProtocol') return dialProtocol
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
