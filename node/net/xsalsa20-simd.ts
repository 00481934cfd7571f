/**
 * XSalsa20 in WebAssembly SIMD: four Salsa20 blocks at once, one block per 32-bit lane.
 *
 * @remarks
 * `@libp2p/pnet` runs XSalsa20 through the `xsalsa20` package, a scalar wasm build that
 * manages ~230 MB per CPU second here while Noise's OpenSSL ChaCha20 does ~1,200: on a
 * bitswap fetch through the private network the cipher was the largest cost pnet adds. The
 * swarm key format fixes XSalsa20 (a stock pnet peer must read our bytes), so the cipher
 * stays; only its implementation changes. The module is generated below (the quarter
 * rounds are the same 5 instructions 320 times); it has one fixed-size memory shared by
 * every cipher of the process (calls are synchronous) that never grows, so the
 * `xsalsa20` memory ratchet (FINDINGS.md) cannot happen here.
 */

/** Bytes of keystream one call of the wasm `xor` handles at most (a multiple of 256). */
const SCRATCH_BYTES = 256 * 1024
/** Where the 16-word Salsa20 input block lives in the wasm memory (and its 16 splatted vectors after it). */
const STATE_PTR = 0
/** Where data to XOR is copied. */
const DATA_PTR = 1024
const PAGES = Math.ceil((DATA_PTR + SCRATCH_BYTES) / 65536)
const GROUP_BYTES = 256

const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]

// Salsa20's double round: [a, b, c, shift] means x[b] ^= rotl(x[a] + x[c], shift).
// The column round, then the row round (Bernstein's order).
const DOUBLE_ROUND: readonly (readonly [number, number, number, number])[] = (() => {
  const steps: [number, number, number, number][] = []
  const quarter = (y0: number, y1: number, y2: number, y3: number): void => {
    steps.push([y0, y1, y3, 7], [y1, y2, y0, 9], [y2, y3, y1, 13], [y3, y0, y2, 18])
  }
  quarter(0, 4, 8, 12)
  quarter(5, 9, 13, 1)
  quarter(10, 14, 2, 6)
  quarter(15, 3, 7, 11)
  quarter(0, 1, 2, 3)
  quarter(5, 6, 7, 4)
  quarter(10, 11, 8, 9)
  quarter(15, 12, 13, 14)
  return steps
})()

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

/** Signed LEB128, what `i32.const` takes (unsigned bytes of 64..127 would read as negative). */
function sleb128(n: number): number[] {
  const out: number[] = []
  for (;;) {
    const b = n & 0x7f
    n >>= 7
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b)
      return out
    }
    out.push(b | 0x80)
  }
}

const SIMD = 0xfd
const op = {
  localGet: (i: number) => [0x20, ...leb128(i)],
  localSet: (i: number) => [0x21, ...leb128(i)],
  localTee: (i: number) => [0x22, ...leb128(i)],
  i32Const: (n: number) => [0x41, ...sleb128(n)],
  i32Load: (offset: number) => [0x28, 0x02, ...leb128(offset)],
  v128Load: (offset: number) => [SIMD, 0x00, 0x04, ...leb128(offset)],
  v128Store: (offset: number) => [SIMD, 0x0b, 0x04, ...leb128(offset)],
  v128Const: (lanes: readonly number[]) => [
    SIMD,
    0x0c,
    ...lanes.flatMap((l) => [l & 0xff, (l >>> 8) & 0xff, (l >>> 16) & 0xff, (l >>> 24) & 0xff]),
  ],
  shuffle: (bytes: readonly number[]) => [SIMD, 0x0d, ...bytes],
  i32x4Splat: [SIMD, 0x11],
  i32x4LtU: [SIMD, 0x3a],
  v128Or: [SIMD, 0x50],
  v128Xor: [SIMD, 0x51],
  i32x4Shl: [SIMD, 0xab, 0x01],
  i32x4ShrU: [SIMD, 0xad, 0x01],
  i32x4Add: [SIMD, 0xae, 0x01],
  i32x4Sub: [SIMD, 0xb1, 0x01],
  i32Eqz: [0x45],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  brIf: (depth: number) => [0x0d, depth],
  br: (depth: number) => [0x0c, depth],
  end: [0x0b],
}

/**
 * `xor(state, data, groups)`: XORs `groups` x 256 bytes at `data` with the Salsa20
 * keystream of the input block at `state` (16 little-endian words; words 8 and 9 are the
 * 64-bit block counter), four blocks per step.
 */
function salsaModule(): Uint8Array {
  const P_STATE = 0
  const P_DATA = 1
  const P_GROUPS = 2
  const X = 3 // x0..x15: the working state, one block per lane
  const U = X + 16
  const T = U + 1 // t0..t3, r0..r3: the transpose
  const R = T + 4
  const V128_LOCALS = R + 4 - X
  const code: number[] = []
  const emit = (...parts: (number | number[])[]): void => {
    for (const p of parts) {
      if (Array.isArray(p)) code.push(...p)
      else code.push(p)
    }
  }
  // the input block, one splatted vector a word, lives in memory at TEMPLATE_PTR (fewer live
  // vectors than x86's 16 registers would otherwise spill); the counter lanes get +0..+3
  const TEMPLATE_PTR = STATE_PTR + 64
  for (let w = 0; w < 16; w++) {
    emit(op.localGet(P_STATE), op.localGet(P_STATE), op.i32Load(STATE_PTR + 4 * w), op.i32x4Splat)
    emit(op.v128Store(TEMPLATE_PTR + 16 * w))
  }
  const addToCounter = (lanes: number[]): void => {
    const lo = TEMPLATE_PTR + 16 * 8
    const hi = TEMPLATE_PTR + 16 * 9
    emit(op.localGet(P_STATE), op.localGet(P_STATE), op.v128Load(lo), op.v128Const(lanes), op.i32x4Add)
    emit(op.localTee(U), op.v128Store(lo))
    // carry: a lane whose low word wrapped (new < added) adds one to its high word (a mask of -1)
    emit(op.localGet(P_STATE), op.localGet(P_STATE), op.v128Load(hi), op.localGet(U), op.v128Const(lanes))
    emit(op.i32x4LtU, op.i32x4Sub, op.v128Store(hi))
  }
  addToCounter([0, 1, 2, 3])
  const j = (w: number) => [...op.localGet(P_STATE), ...op.v128Load(TEMPLATE_PTR + 16 * w)]
  emit(op.block, op.loop)
  emit(op.localGet(P_GROUPS), op.i32Eqz, op.brIf(1))
  for (let w = 0; w < 16; w++) emit(j(w), op.localSet(X + w))
  for (let round = 0; round < 10; round++) {
    for (const [a, b, c, shift] of DOUBLE_ROUND) {
      emit(op.localGet(X + a), op.localGet(X + c), op.i32x4Add, op.localTee(U), op.i32Const(shift), op.i32x4Shl)
      emit(op.localGet(U), op.i32Const(32 - shift), op.i32x4ShrU, op.v128Or)
      emit(op.localGet(X + b), op.v128Xor, op.localSet(X + b))
    }
  }
  for (let w = 0; w < 16; w++) emit(op.localGet(X + w), j(w), op.i32x4Add, op.localSet(X + w))
  // 4x4 transposes: lane b of x[4g..4g+3] becomes words 4g..4g+3 of block b
  const lanes = (...idx: number[]) => idx.flatMap((i) => [4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3])
  const lo32 = lanes(0, 4, 1, 5)
  const hi32 = lanes(2, 6, 3, 7)
  const lo64 = lanes(0, 1, 4, 5)
  const hi64 = lanes(2, 3, 6, 7)
  for (let g = 0; g < 4; g++) {
    const x = (i: number) => op.localGet(X + 4 * g + i)
    emit(x(0), x(1), op.shuffle(lo32), op.localSet(T + 0))
    emit(x(0), x(1), op.shuffle(hi32), op.localSet(T + 1))
    emit(x(2), x(3), op.shuffle(lo32), op.localSet(T + 2))
    emit(x(2), x(3), op.shuffle(hi32), op.localSet(T + 3))
    emit(op.localGet(T + 0), op.localGet(T + 2), op.shuffle(lo64), op.localSet(R + 0))
    emit(op.localGet(T + 0), op.localGet(T + 2), op.shuffle(hi64), op.localSet(R + 1))
    emit(op.localGet(T + 1), op.localGet(T + 3), op.shuffle(lo64), op.localSet(R + 2))
    emit(op.localGet(T + 1), op.localGet(T + 3), op.shuffle(hi64), op.localSet(R + 3))
    for (let b = 0; b < 4; b++) {
      const offset = 64 * b + 16 * g
      emit(op.localGet(P_DATA), op.localGet(P_DATA), op.v128Load(offset), op.localGet(R + b), op.v128Xor)
      emit(op.v128Store(offset))
    }
  }
  addToCounter([4, 4, 4, 4])
  emit(op.localGet(P_DATA), op.i32Const(GROUP_BYTES), op.i32Add, op.localSet(P_DATA))
  emit(op.localGet(P_GROUPS), op.i32Const(1), op.i32Sub, op.localSet(P_GROUPS))
  emit(op.br(0), op.end, op.end, op.end)

  const body = [0x01, ...leb128(V128_LOCALS), 0x7b, ...code]
  const section = (id: number, content: number[]) => [id, ...leb128(content.length), ...content]
  const name = (s: string) => [s.length, ...Buffer.from(s, 'ascii')]
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00]),
    ...section(3, [0x01, 0x00]),
    ...section(5, [0x01, 0x01, ...leb128(PAGES), ...leb128(PAGES)]),
    ...section(7, [0x02, ...name('memory'), 0x02, 0x00, ...name('xor'), 0x00, 0x00]),
    ...section(10, [0x01, ...leb128(body.length), ...body]),
  ])
}

interface SalsaWasm {
  xor: (state: number, data: number, groups: number) => void
  words: Uint32Array
  bytes: Uint8Array
}

/** The part of the WebAssembly global used here (the project's TS lib has no DOM types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object) => { exports: { xor: SalsaWasm['xor']; memory: { buffer: ArrayBuffer } } }
}

let instance: SalsaWasm | undefined

function wasm(): SalsaWasm {
  if (instance !== undefined) return instance
  const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly
  const { exports } = new api.Instance(new api.Module(salsaModule()))
  instance = {
    xor: exports.xor,
    words: new Uint32Array(exports.memory.buffer),
    bytes: new Uint8Array(exports.memory.buffer),
  }
  return instance
}

const rotl = (v: number, n: number): number => (v << n) | (v >>> (32 - n))

const readWords = (bytes: Uint8Array, count: number): number[] =>
  Array.from({ length: count }, (_, i) => new DataView(bytes.buffer, bytes.byteOffset).getUint32(4 * i, true))

/** HSalsa20(key, nonce[0..16]): the XSalsa20 subkey as 8 words. */
export function hsalsa20(key: Uint8Array, nonce16: Uint8Array): number[] {
  const k = readWords(key, 8)
  const n = readWords(nonce16, 4)
  const x = [
    SIGMA[0],
    k[0],
    k[1],
    k[2],
    k[3],
    SIGMA[1],
    n[0],
    n[1],
    n[2],
    n[3],
    SIGMA[2],
    k[4],
    k[5],
    k[6],
    k[7],
    SIGMA[3],
  ]
  for (let round = 0; round < 10; round++) {
    for (const [a, b, c, shift] of DOUBLE_ROUND) x[b] = (x[b] ^ rotl((x[a] + x[c]) | 0, shift)) >>> 0
  }
  return [x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9]].map((v) => v >>> 0)
}

/**
 * One direction of an XSalsa20 stream (24-byte nonce, 32-byte key): `update()` XORs the
 * next bytes of the keystream into a copy of its input, as the `xsalsa20` package does.
 */
export class XSalsa20Stream {
  readonly #state: Uint32Array
  #counter = 0
  /** Keystream left over from the last partial group. */
  readonly #rest = new Uint8Array(GROUP_BYTES)
  #restAt = GROUP_BYTES

  /**
   * @param firstBlock - the 64-byte keystream block to start at (Salsa20's 64-bit block counter).
   * @defaultValue 0
   */
  constructor(nonce: Uint8Array, key: Uint8Array, firstBlock = 0) {
    if (nonce.byteLength < 24) throw new RangeError('xsalsa20: the nonce must be 24 bytes')
    if (key.byteLength < 32) throw new RangeError('xsalsa20: the key must be 32 bytes')
    const s = hsalsa20(key, nonce.subarray(0, 16))
    const n = readWords(nonce.subarray(16, 24), 2)
    this.#state = Uint32Array.from([
      SIGMA[0],
      s[0],
      s[1],
      s[2],
      s[3],
      SIGMA[1],
      n[0],
      n[1],
      0,
      0,
      SIGMA[2],
      s[4],
      s[5],
      s[6],
      s[7],
      SIGMA[3],
    ])
    if (!Number.isSafeInteger(firstBlock) || firstBlock < 0) throw new RangeError('xsalsa20: bad first block')
    this.#counter = firstBlock
    wasm()
  }

  /** Returns `input` XORed with the next `input.byteLength` bytes of the keystream. */
  update(input: Uint8Array): Uint8Array {
    // every byte is written below, so no zero fill; a plain Uint8Array over its own ArrayBuffer
    // (no pool slab shared with others, and slice() copies as callers expect of a Uint8Array)
    const out = new Uint8Array(Buffer.allocUnsafeSlow(input.byteLength).buffer, 0, input.byteLength)
    const n = input.byteLength
    let i = 0
    const rest = this.#rest
    while (this.#restAt < GROUP_BYTES && i < n) {
      out[i] = input[i] ^ rest[this.#restAt++]
      i++
    }
    const w = wasm()
    while (n - i >= GROUP_BYTES) {
      const len = Math.min(SCRATCH_BYTES, (n - i) & ~(GROUP_BYTES - 1))
      w.bytes.set(input.subarray(i, i + len), DATA_PTR)
      this.#run(w, len / GROUP_BYTES)
      out.set(w.bytes.subarray(DATA_PTR, DATA_PTR + len), i)
      i += len
    }
    if (i < n) {
      w.bytes.fill(0, DATA_PTR, DATA_PTR + GROUP_BYTES)
      this.#run(w, 1)
      rest.set(w.bytes.subarray(DATA_PTR, DATA_PTR + GROUP_BYTES))
      this.#restAt = 0
      while (i < n) {
        out[i] = input[i] ^ rest[this.#restAt++]
        i++
      }
    }
    return out
  }

  #run(w: SalsaWasm, groups: number): void {
    this.#state[8] = this.#counter >>> 0
    this.#state[9] = Math.floor(this.#counter / 2 ** 32)
    w.words.set(this.#state, STATE_PTR / 4)
    w.xor(STATE_PTR, DATA_PTR, groups)
    this.#counter += 4 * groups
  }
}

/** Bytes of the one WebAssembly memory every {@link XSalsa20Stream} shares; it never grows. */
export const XSALSA20_MEMORY_BYTES = PAGES * 65536
