/**
 * A distance block in WebAssembly memory, with a SIMD scan for the first 16-value chunk
 * holding a value below a threshold.
 *
 * @remarks The KNN search reads every distance the GEMM writes (10⁹ for 100k train rows
 * x 10k queries) and almost none is below the query's current k-th best. A plain JS loop
 * costs ~0.6-1 ns a value (V8 does not vectorise); this scan compares 16 values per step
 * with `f32x4.min` / `f32x4.lt` / `v128.any_true` at ~0.12 ns a value, and JS looks at a
 * chunk only when it holds a candidate. OpenBLAS writes straight into the wasm memory
 * (koffi passes the view's address). The module is 100-odd bytes assembled below from
 * this text:
 *
 * ```wat
 * (module
 *   (import "env" "memory" (memory 1))
 *   (func (export "scan") (param $p i32) (param $end i32) (param $t f32) (result i32)
 *     (local $tv v128)
 *     (local.set $tv (f32x4.splat (local.get $t)))
 *     (block $done (loop $next
 *       (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
 *       (br_if $done (v128.any_true (f32x4.lt
 *         (f32x4.min (f32x4.min (v128.load offset=0 (local.get $p)) (v128.load offset=16 (local.get $p)))
 *                    (f32x4.min (v128.load offset=32 (local.get $p)) (v128.load offset=48 (local.get $p))))
 *         (local.get $tv))))
 *       (local.set $p (i32.add (local.get $p) (i32.const 64)))
 *       (br $next)))
 *     (local.get $p)))
 * ```
 * `scan(p, end, t)` returns the byte address of the first 64-byte chunk in [p, end) with
 * a value < t, or an address >= end. (Distances are finite: no NaN semantics to mind.)
 */
export interface DistanceBlock {
  /** The distance values, a view of the wasm memory (or a plain array without SIMD). */
  readonly values: Float32Array
  /**
   * First index in [from, to) of a 16-value chunk holding a value < `below`, or a
   * value >= `to`; `from` and `to` must be multiples of 16 (chunks are checked whole).
   */
  firstChunkBelow(from: number, to: number, below: number): number
  /** `simd` or `js`. */
  readonly kind: 'simd' | 'js'
}

/** Values per chunk the scan checks at once. */
export const SCAN_CHUNK = 16

// biome-ignore format: one instruction per line
const SCAN_BODY = [
  0x01, 0x01, 0x7b, //          1 local: v128 ($tv = local 3)
  0x20, 0x02, //                local.get $t
  0xfd, 0x13, //                f32x4.splat
  0x21, 0x03, //                local.set $tv
  0x02, 0x40, //                block $done
  0x03, 0x40, //                loop $next
  0x20, 0x00, 0x20, 0x01, //    local.get $p, local.get $end
  0x4f, //                      i32.ge_u
  0x0d, 0x01, //                br_if $done
  0x20, 0x00, 0xfd, 0x00, 0x02, 0x00, // local.get $p, v128.load align=4 offset=0
  0x20, 0x00, 0xfd, 0x00, 0x02, 0x10, // local.get $p, v128.load offset=16
  0xfd, 0xe8, 0x01, //          f32x4.min
  0x20, 0x00, 0xfd, 0x00, 0x02, 0x20, // local.get $p, v128.load offset=32
  0x20, 0x00, 0xfd, 0x00, 0x02, 0x30, // local.get $p, v128.load offset=48
  0xfd, 0xe8, 0x01, //          f32x4.min
  0xfd, 0xe8, 0x01, //          f32x4.min
  0x20, 0x03, //                local.get $tv
  0xfd, 0x43, //                f32x4.lt
  0xfd, 0x53, //                v128.any_true
  0x0d, 0x01, //                br_if $done
  0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x00, // $p = $p + 64
  0x0c, 0x00, //                br $next
  0x0b, 0x0b, //                end loop, end block
  0x20, 0x00, //                local.get $p
  0x0b, //                      end func
]

function leb128(n: number): number[] {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n !== 0) b |= 0x80
    out.push(b)
  } while (n !== 0)
  return out
}

function section(id: number, bytes: number[]): number[] {
  return [id, ...leb128(bytes.length), ...bytes]
}

function name(s: string): number[] {
  return [s.length, ...Array.from(s, (c) => c.charCodeAt(0))]
}

/** The assembled module (see the WAT text above). */
export const SCAN_WASM = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, [0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7d, 0x01, 0x7f]), // type: (i32, i32, f32) -> i32
  ...section(2, [0x01, ...name('env'), ...name('memory'), 0x02, 0x00, 0x01]), // import env.memory, min 1 page
  ...section(3, [0x01, 0x00]), // one function of type 0
  ...section(7, [0x01, ...name('scan'), 0x00, 0x00]), // export "scan" = function 0
  ...section(10, [0x01, ...leb128(SCAN_BODY.length), ...SCAN_BODY]),
])

/** The part of the WebAssembly global used here (the project's TS lib has no DOM types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean
  Module: new (bytes: Uint8Array) => object
  Instance: new (
    module: object,
    imports: Record<string, Record<string, unknown>>,
  ) => { exports: Record<string, unknown> }
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer }
}

const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly

let scanModule: object | null | undefined

function compiled(): object | null {
  if (scanModule === undefined) scanModule = wasm?.validate(SCAN_WASM) ? new wasm.Module(SCAN_WASM) : null
  return scanModule
}

/**
 * A block of `length` float32 distances (a multiple of {@link SCAN_CHUNK}): in wasm
 * memory with the SIMD scan, or a plain array with a JS scan when `simd` is false or
 * WebAssembly SIMD is unavailable.
 */
export function createDistanceBlock(length: number, simd = true): DistanceBlock {
  if (length % SCAN_CHUNK !== 0) throw new RangeError(`block length ${length} is not a multiple of ${SCAN_CHUNK}`)
  const mod = simd ? compiled() : null
  if (!mod || !wasm) {
    const values = new Float32Array(length)
    return {
      kind: 'js',
      values,
      firstChunkBelow(from, to, below) {
        for (let j = from; j < to; j++) if (values[j] < below) return j - (j % SCAN_CHUNK)
        return to
      },
    }
  }
  const memory = new wasm.Memory({ initial: Math.max(1, Math.ceil((length * 4) / 65536)) })
  const instance = new wasm.Instance(mod, { env: { memory } })
  const scan = instance.exports.scan as (p: number, end: number, t: number) => number
  return {
    kind: 'simd',
    values: new Float32Array(memory.buffer, 0, length),
    firstChunkBelow: (from, to, below) => scan(from * 4, to * 4, below) >>> 2,
  }
}
