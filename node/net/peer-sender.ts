import type { Stream } from '@libp2p/interface'
import type { Logger } from 'pino'
import { encodeFrameHeader } from './frame-decoder.ts'

/** Options and callbacks of a {@link PeerSender}. */
export interface PeerSenderInit {
  /** Opens the outbound direct-message stream to the peer (dialling it if needed). */
  open: (signal: AbortSignal) => Promise<Stream>
  /** Most messages waiting to be written. */
  maxQueuedMessages: number
  /** Most bytes waiting to be written. */
  maxQueuedBytes: number
  /** How long one message may wait for the stream to drain before the stream is given up. */
  sendTimeoutMs: number
  /** Aborted when the node stops. */
  signal: AbortSignal
  log: Logger
  /** A message was handed to the stream. */
  onSent: (bytes: number) => void
  /** Messages were lost (queue full, stream unavailable, stream error). */
  onDropped: (count: number, reason: string) => void
}

/**
 * The outbound side of the direct protocol for one peer: a bounded FIFO queue written to
 * one reused stream, opened on demand, as length-prefixed frames, waiting for the stream's
 * `drain` event whenever `send()` reports a full buffer.
 *
 * @remarks
 * It waits for the `drain` event itself: `onDrain()` in @libp2p/utils 7.4.1 resolves at once
 * after the first drain (FINDINGS.md). A message whose write fails is dropped and counted;
 * the next one goes out on a fresh stream, so order holds for what arrives.
 */
export class PeerSender {
  readonly #init: PeerSenderInit
  readonly #queue: Uint8Array[] = []
  #queuedBytes = 0
  #stream: Stream | undefined
  #pumping = false
  #closed = false

  constructor(init: PeerSenderInit) {
    this.#init = init
  }

  /** Bytes waiting in the queue. */
  get queuedBytes(): number {
    return this.#queuedBytes
  }

  /** Queues one message; false (and counted as dropped) when the queue is full or closed. */
  enqueue(bytes: Uint8Array): boolean {
    if (this.#closed) {
      this.#init.onDropped(1, 'sender closed')
      return false
    }
    if (
      this.#queue.length >= this.#init.maxQueuedMessages ||
      this.#queuedBytes + bytes.byteLength > this.#init.maxQueuedBytes
    ) {
      this.#init.onDropped(1, 'send queue full')
      return false
    }
    this.#queue.push(bytes)
    this.#queuedBytes += bytes.byteLength
    if (!this.#pumping) {
      this.#pump().catch((err) => this.#init.log.error({ err }, 'direct send pump failed'))
    }
    return true
  }

  /** Drops what is queued and closes the stream; later enqueues are dropped. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#dropQueued('sender closed')
    const stream = this.#stream
    this.#stream = undefined
    stream?.close().catch((err: unknown) => stream.abort(err instanceof Error ? err : new Error(String(err))))
  }

  #dropQueued(reason: string): void {
    if (this.#queue.length === 0) return
    this.#init.onDropped(this.#queue.length, reason)
    this.#queue.length = 0
    this.#queuedBytes = 0
  }

  async #pump(): Promise<void> {
    this.#pumping = true
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        let stream: Stream
        try {
          stream = await this.#openStream()
        } catch (err) {
          this.#init.log.debug({ err }, 'cannot open the direct stream')
          this.#dropQueued('stream unavailable')
          break
        }
        if (this.#closed) break
        const frame = this.#queue.shift()!
        this.#queuedBytes -= frame.byteLength
        try {
          await this.#write(stream, frame)
          this.#init.onSent(frame.byteLength)
        } catch (err) {
          this.#init.log.debug({ err }, 'direct stream write failed')
          this.#init.onDropped(1, 'stream error')
          if (this.#stream === stream) this.#stream = undefined
          stream.abort(err instanceof Error ? err : new Error(String(err)))
        }
      }
    } finally {
      this.#pumping = false
    }
  }

  async #openStream(): Promise<Stream> {
    const current = this.#stream
    if (current != null && current.status === 'open' && current.writeStatus === 'writable') return current
    this.#stream = undefined
    const signal = AbortSignal.any([this.#init.signal, AbortSignal.timeout(this.#init.sendTimeoutMs)])
    const stream = await this.#init.open(signal)
    if (this.#closed) {
      stream.abort(new Error('sender closed'))
      throw new Error('sender closed')
    }
    // the peer never writes on our outbound stream; anything it sends is discarded
    stream.addEventListener('message', () => {})
    stream.addEventListener('close', () => {
      if (this.#stream === stream) this.#stream = undefined
    })
    this.#stream = stream
    return stream
  }

  async #write(stream: Stream, frame: Uint8Array): Promise<void> {
    stream.send(encodeFrameHeader(frame.byteLength))
    if (stream.send(frame)) return
    await waitForDrain(stream, AbortSignal.any([this.#init.signal, AbortSignal.timeout(this.#init.sendTimeoutMs)]))
  }
}

/** Resolves on the stream's next `drain` event; rejects when it closes or `signal` aborts. */
function waitForDrain(stream: Stream, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    const cleanup = (): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onAbort)
    }
    const onDrain = (): void => {
      cleanup()
      resolve()
    }
    const onClose = (evt: Event): void => {
      cleanup()
      reject((evt as Event & { error?: Error }).error ?? new Error('stream closed while waiting to drain'))
    }
    const onAbort = (): void => {
      cleanup()
      reject(signal.reason)
    }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal.addEventListener('abort', onAbort)
  })
}
