import { createRequire } from 'node:module'
import { XSALSA20_MEMORY_BYTES, XSalsa20Stream } from '../../node/net/xsalsa20-simd.ts'

/**
 * Watches the private network's ciphers: the largest single `update()` and the largest
 * WebAssembly memory they use, both for stock pnet's `xsalsa20` package (the stock peers of
 * the interop tests) and for the fleet's own {@link XSalsa20Stream}. Without a write cap,
 * megabyte updates grow the `xsalsa20` memory towards its 64 MB maximum (the ratchet of
 * FINDINGS.md), where `grow()` throws and the connection dies. Call once per test process.
 */
export function watchXsalsa20(): { maxUpdate: number; maxMemory: number } {
  const XSalsa20 = createRequire(import.meta.url)('xsalsa20') as {
    prototype: { update(input: Uint8Array, output?: Uint8Array): Uint8Array }
  }
  const seen = { maxUpdate: 0, maxMemory: 0 }
  const update = XSalsa20.prototype.update
  XSalsa20.prototype.update = function (this: { _xor?: { _memory?: Uint8Array } }, input, output) {
    const result = update.call(this, input, output)
    seen.maxUpdate = Math.max(seen.maxUpdate, input.byteLength)
    seen.maxMemory = Math.max(seen.maxMemory, this._xor?._memory?.byteLength ?? 0)
    return result
  }
  const ours = XSalsa20Stream.prototype.update
  XSalsa20Stream.prototype.update = function (this: XSalsa20Stream, input: Uint8Array) {
    const result = ours.call(this, input)
    seen.maxUpdate = Math.max(seen.maxUpdate, input.byteLength)
    seen.maxMemory = Math.max(seen.maxMemory, XSALSA20_MEMORY_BYTES)
    return result
  }
  return seen
}
