import type { Stream, StreamMessageEvent } from '@libp2p/interface'
import type { Logger } from 'pino'
import { FrameError } from './errors.ts'
import { FrameDecoder } from './frame-decoder.ts'

/** Limits and callbacks of {@link receiveDirectStream}. */
export interface DirectReceiverInit {
  /** The largest frame body accepted. */
  maxFrameBytes: number
  /** One complete frame, in stream order. */
  onFrame: (frame: Uint8Array) => void
  /** A framing violation; the stream is aborted right after. */
  onViolation: (reason: string) => void
  log: Logger
}

/**
 * Reads the inbound side of the direct protocol: length-prefixed frames decoded as the
 * stream's `message` events arrive. An oversized, empty or truncated frame (the remote
 * closed its side inside a frame) is a violation: reported, then the stream is aborted.
 * Nothing here throws into libp2p's event dispatch.
 */
export function receiveDirectStream(stream: Stream, init: DirectReceiverInit): void {
  const decoder = new FrameDecoder(init.maxFrameBytes)
  let failed = false
  const fail = (err: Error, violation: boolean): void => {
    failed = true
    if (violation) init.onViolation(err.message)
    else init.log.error({ err }, 'direct message handling failed')
    stream.abort(err)
  }
  stream.addEventListener('message', (evt: StreamMessageEvent) => {
    if (failed) return
    try {
      const data = evt.data
      decoder.push(data instanceof Uint8Array ? data : data.subarray(), init.onFrame)
    } catch (err) {
      fail(err instanceof Error ? err : new Error(String(err)), err instanceof FrameError)
    }
  })
  stream.addEventListener('remoteCloseWrite', () => {
    if (failed) return
    if (decoder.midFrame) {
      fail(new FrameError('stream closed inside a frame'), true)
      return
    }
    stream.close().catch((err: unknown) => stream.abort(err instanceof Error ? err : new Error(String(err))))
  })
  stream.addEventListener('close', (evt) => {
    if (evt.error != null && !failed) init.log.debug({ err: evt.error }, 'inbound direct stream error')
  })
}
