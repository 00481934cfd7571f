import { FrameError } from './errors.ts'

/** How many bytes the unsigned LEB128 varint of `value` takes. */
export function varintLength(value: number): number {
  let n = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    n++
  }
  return n
}

/**
 * The length prefix of a frame: `length` as an unsigned LEB128 varint (the multiformats
 * `unsigned-varint` that `lpStream` and `it-length-prefixed` use).
 */
export function encodeFrameHeader(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0)
    throw new RangeError(`frame length: expected a non-negative integer, got ${length}`)
  const out = new Uint8Array(varintLength(length))
  let i = 0
  while (length >= 0x80) {
    out[i++] = (length % 0x80) | 0x80
    length = Math.floor(length / 0x80)
  }
  out[i] = length
  return out
}

/**
 * Incremental decoder of length-prefixed frames (varint length, then that many bytes).
 *
 * @remarks
 * Written instead of `lpStream` for the inbound side because it is synchronous on the
 * stream's `message` events (nothing buffers between reads), refuses an oversized length
 * as soon as the prefix is read, before any body is buffered, and can tell a stream that
 * ended between frames from one that ended inside a frame (`lpStream` reports both as the
 * same `UnexpectedEOFError`). Empty frames are a violation: no message is empty.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number
  readonly #maxHeaderBytes: number
  #headerValue = 0
  #headerBytes = 0
  #body: Uint8Array | undefined
  #bodyOffset = 0
  #failed = false

  /** @param maxFrameBytes - the largest frame body accepted */
  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes
    this.#maxHeaderBytes = varintLength(maxFrameBytes)
  }

  /** True when the bytes pushed so far end inside a frame (its prefix or its body). */
  get midFrame(): boolean {
    return this.#headerBytes > 0 || this.#body != null
  }

  /**
   * Feeds bytes; calls `onFrame` for every frame they complete, in order.
   *
   * @throws {@link FrameError} at the first violation; frames completed before it were delivered,
   * and every later push throws too.
   */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    if (this.#failed) throw new FrameError('frame decoder: already failed')
    let i = 0
    while (i < chunk.length) {
      const body = this.#body
      if (body == null) {
        const byte = chunk[i++]
        this.#headerValue += (byte & 0x7f) * 2 ** (7 * this.#headerBytes)
        this.#headerBytes++
        if ((byte & 0x80) !== 0) {
          if (this.#headerBytes >= this.#maxHeaderBytes) {
            this.#failed = true
            throw new FrameError(`length prefix longer than ${this.#maxHeaderBytes} bytes`)
          }
          continue
        }
        const length = this.#headerValue
        this.#headerValue = 0
        this.#headerBytes = 0
        if (length === 0) {
          this.#failed = true
          throw new FrameError('empty frame')
        }
        if (length > this.#maxFrameBytes) {
          this.#failed = true
          throw new FrameError(`frame of ${length} bytes exceeds the ${this.#maxFrameBytes}-byte limit`)
        }
        if (chunk.length - i >= length) {
          onFrame(chunk.subarray(i, i + length))
          i += length
          continue
        }
        this.#body = new Uint8Array(length)
        this.#bodyOffset = 0
      } else {
        const n = Math.min(body.length - this.#bodyOffset, chunk.length - i)
        body.set(chunk.subarray(i, i + n), this.#bodyOffset)
        this.#bodyOffset += n
        i += n
        if (this.#bodyOffset === body.length) {
          this.#body = undefined
          onFrame(body)
        }
      }
    }
  }
}
