import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import type { LibraryHandle } from 'koffi'

/** Where OpenBLAS is looked for, after `OPENBLAS_LIBRARY` (an explicit path). */
export const OPENBLAS_CANDIDATES: readonly string[] = [
  '/usr/lib/x86_64-linux-gnu/libopenblas.so.0',
  '/usr/lib/aarch64-linux-gnu/libopenblas.so.0',
  '/usr/lib64/libopenblas.so.0',
  '/usr/lib/libopenblas.so.0',
  'libopenblas.so.0',
  'libopenblas.so',
  '/opt/homebrew/opt/openblas/lib/libopenblas.dylib',
  '/usr/local/opt/openblas/lib/libopenblas.dylib',
]

/** A loaded OpenBLAS: single-precision GEMM and its thread pool. */
export interface OpenBlas {
  /** The file that loaded. */
  readonly path: string
  /** The kernel family OpenBLAS chose for this CPU (`openblas_get_corename`), e.g. `Haswell`. */
  readonly core: string
  /** `openblas_get_config()`: version and build flags. */
  readonly config: string
  /** Threads OpenBLAS uses for one GEMM. */
  threads(): number
  /** Sets the GEMM thread count (`openblas_set_num_threads`). */
  setThreads(n: number): void
  /**
   * Row-major `C = A · Bᵀ` (cblas_sgemm, NoTrans x Trans, alpha 1, beta 0): `A` is m x k
   * with row stride `lda`, `B` is n x k with row stride `ldb`, `C` is m x n with row stride `ldc`.
   * Pass subarrays to start inside a larger matrix (koffi passes their address, no copy).
   */
  gemmABt(
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    c: Float32Array,
    ldc: number,
  ): void
  /**
   * Row-major `C = alpha · op(A) · op(B) + beta · C` (cblas_sgemm), `op` transposing when
   * `transA` / `transB` is set: `op(A)` is m x k, `op(B)` is k x n, strides as stored.
   */
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void
}

/** Why OpenBLAS could not be loaded: every path tried and its error. */
export interface OpenBlasUnavailable {
  readonly reason: string
}

const CBLAS_ROW_MAJOR = 101
const CBLAS_NO_TRANS = 111
const CBLAS_TRANS = 112

let cached: OpenBlas | OpenBlasUnavailable | undefined

/**
 * Loads OpenBLAS once per process (`OPENBLAS_LIBRARY`, then {@link OPENBLAS_CANDIDATES})
 * and sets its thread count with {@link chooseBlasThreads}.
 *
 * @remarks Returns an {@link OpenBlasUnavailable} instead of throwing: KNN then falls
 * back to a pure-JS kernel (same results, ~50x slower) and says so on progress.
 * OpenBLAS picks its kernels for the CPU itself; `OPENBLAS_CORETYPE` and
 * `OPENBLAS_NUM_THREADS` in the environment are respected.
 */
export function loadOpenBlas(): OpenBlas | OpenBlasUnavailable {
  if (cached !== undefined) return cached
  const coreType = chooseCoreType()
  if (coreType !== null) process.env.OPENBLAS_CORETYPE = coreType
  const explicit = process.env.OPENBLAS_LIBRARY
  const paths = explicit ? [explicit] : OPENBLAS_CANDIDATES
  const errors: string[] = []
  let koffi: typeof import('koffi')
  try {
    // Loaded here, not imported, so that a platform without koffi's binary still gets the JS kernel.
    koffi = createRequire(import.meta.url)('koffi')
  } catch (err) {
    cached = { reason: `koffi (the FFI library) does not load here: ${(err as Error).message.split('\n')[0]}` }
    return cached
  }
  for (const path of paths) {
    try {
      cached = bind(koffi.load(path), path)
      return cached
    } catch (err) {
      errors.push(`${path}: ${(err as Error).message.split('\n')[0]}`)
    }
  }
  cached = {
    reason:
      `OpenBLAS not found (${errors.join('; ')}); install it (Debian: apt-get install libopenblas0) ` +
      'or set OPENBLAS_LIBRARY to the path of libopenblas',
  }
  return cached
}

/**
 * The OpenBLAS kernel family to force for this CPU, or null to let OpenBLAS choose:
 * `SkylakeX` with AVX-512 (F, DQ, BW, VL, CD), `Haswell` with AVX2 and FMA, on x86-64
 * Linux when `OPENBLAS_CORETYPE` is unset.
 *
 * @remarks Debian's OpenBLAS 0.3.21 identifies CPUs by family and model number and falls
 * back to `Prescott` (SSE3) kernels for ones it does not know, e.g. the virtual Xeons of
 * these lab hosts (AVX-512 and AVX2 present): sgemm then runs 3-5x slower (256x145x128:
 * ~450 us as Prescott, ~150 us as Haswell, ~100 us as SkylakeX, one thread). The flags
 * in /proc/cpuinfo say which instructions the kernels may use.
 */
export function chooseCoreType(
  cpuinfo: () => string = () => readFileSync('/proc/cpuinfo', 'utf8'),
  env: NodeJS.ProcessEnv = process.env,
): string | null {
  if (env.OPENBLAS_CORETYPE || process.platform !== 'linux' || process.arch !== 'x64') return null
  let flags: Set<string>
  try {
    flags = new Set(/^flags\s*:(.*)$/m.exec(cpuinfo())?.[1].trim().split(/\s+/) ?? [])
  } catch {
    return null
  }
  if (['avx512f', 'avx512dq', 'avx512bw', 'avx512vl', 'avx512cd'].every((f) => flags.has(f))) return 'SkylakeX'
  if (flags.has('avx2') && flags.has('fma')) return 'Haswell'
  return null
}

/** Type guard: OpenBLAS loaded. */
export function isOpenBlas(blas: OpenBlas | OpenBlasUnavailable): blas is OpenBlas {
  return 'gemmABt' in blas
}

/**
 * The GEMM thread count KNN uses: OpenBLAS's own choice (its default is the number of
 * cores, or `OPENBLAS_NUM_THREADS` / `OMP_NUM_THREADS` when set), capped at the cores
 * this process may use.
 *
 * @remarks The search alternates a GEMM of one block with a single-threaded pass over
 * that block's distances (SIMD scan, candidate inserts), then re-ranks and votes. The GEMM
 * is ~85-90% of predict time (CPU profile, 100k x 145 train rows, 4k queries: 2.1 s of
 * 2.3 s in `cblas_sgemm`; bench/knn.ts: 0.7-0.8 s of ~5 s outside it), so overlapping
 * the GEMM with the rest (a 1-thread GEMM on a koffi worker thread while the main thread
 * scans) could hide at most that share and would give up half the GEMM's cores: all
 * cores go to the GEMM, one block at a time. On an idle 2-core machine OpenBLAS's sgemm
 * runs at ~210 GFLOP/s with 2 threads against ~107 with 1. On a machine busy with other
 * work the 2 synchronising threads lose that edge (bench/knn.ts at a load average of 7:
 * 5.1-5.6 s with 2 threads, 4.1-4.4 s with 1), so whoever runs several jobs per host
 * should give each `OPENBLAS_NUM_THREADS` = its share of the cores. Predictions do not
 * depend on the thread count (the search re-ranks exactly).
 */
export function chooseBlasThreads(blasDefault: number): number {
  return Math.max(1, Math.min(blasDefault, availableParallelism()))
}

function bind(lib: LibraryHandle, path: string): OpenBlas {
  const sgemm = lib.func(
    'void cblas_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, ' +
      'const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)',
  )
  const getThreads = lib.func('int openblas_get_num_threads()')
  const setThreads = lib.func('void openblas_set_num_threads(int n)')
  const coreName = lib.func('const char *openblas_get_corename()')
  const config = lib.func('const char *openblas_get_config()')
  setThreads(chooseBlasThreads(getThreads() as number))
  return {
    path,
    core: String(coreName()),
    config: String(config()),
    threads: () => getThreads() as number,
    setThreads: (n: number) => {
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`BLAS threads must be a positive integer, got ${n}`)
      setThreads(n)
    },
    gemmABt(m, n, k, a, lda, b, ldb, c, ldc) {
      sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
    },
    gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
      const ta = transA ? CBLAS_TRANS : CBLAS_NO_TRANS
      const tb = transB ? CBLAS_TRANS : CBLAS_NO_TRANS
      sgemm(CBLAS_ROW_MAJOR, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    },
  }
}
