import { createRequire } from 'node:module'

/**
 * Watches pnet's cipher: the largest single `update()` and the largest WebAssembly memory
 * its instances share. Without the 64 KiB write cap, megabyte updates grow that memory
 * towards its 64 MB maximum (the ratchet of FINDINGS.md), where `grow()` throws and the
 * connection dies. Call once per test process.
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
  return seen
}
