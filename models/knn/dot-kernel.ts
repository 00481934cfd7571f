import { isOpenBlas, loadOpenBlas } from './blas.ts'

/**
 * The one dense product the KNN search needs: `C[i, j] = Σ_l A[i, l] · B[j, l]` for
 * i < m, j < n over `depth` columns (row-major, `A` with row stride `depth`, `B` with
 * row stride `depth`, `C` with row stride `ldc`). `C` is float32; the kernel may round
 * as it likes within float32 accumulation error (the search re-ranks exactly).
 */
export interface DotKernel {
  /** `openblas` or `js`. */
  readonly name: 'openblas' | 'js'
  /** One line for progress and the run record (library, kernel family, threads). */
  describe(): string
  /** Threads used per product. */
  threads(): number
  product(
    m: number,
    n: number,
    depth: number,
    a: Float32Array,
    aRow: number,
    b: Float32Array,
    bRow: number,
    c: Float32Array,
    ldc: number,
  ): void
}

/** The OpenBLAS kernel, or `undefined` with the reason when OpenBLAS is missing. */
export function openBlasKernel(): { kernel: DotKernel; reason?: undefined } | { kernel?: undefined; reason: string } {
  const blas = loadOpenBlas()
  if (!isOpenBlas(blas)) return { reason: blas.reason }
  const version = /OpenBLAS\s+(\S+)/.exec(blas.config)?.[1] ?? 'unknown version'
  return {
    kernel: {
      name: 'openblas',
      describe: () => `OpenBLAS ${version} (${blas.core} kernels, ${blas.threads()} threads)`,
      threads: () => blas.threads(),
      product(m, n, depth, a, aRow, b, bRow, c, ldc) {
        blas.gemmABt(m, n, depth, a.subarray(aRow * depth), depth, b.subarray(bRow * depth), depth, c, ldc)
      },
    },
  }
}

/**
 * A blocked pure-JS kernel: the fallback when OpenBLAS is missing, and the reference
 * the tests compare OpenBLAS against.
 *
 * @remarks Four rows of `A` share each load of a row of `B`, accumulating in float64.
 * About 1-2 GFLOP/s, against ~200 for OpenBLAS on 2 cores.
 */
export const jsDotKernel: DotKernel = {
  name: 'js',
  describe: () => 'pure-JS kernel (1 thread)',
  threads: () => 1,
  product(m, n, depth, a, aRow, b, bRow, c, ldc) {
    let i = 0
    for (; i + 4 <= m; i += 4) {
      const a0 = (aRow + i) * depth
      const a1 = a0 + depth
      const a2 = a1 + depth
      const a3 = a2 + depth
      for (let j = 0; j < n; j++) {
        const b0 = (bRow + j) * depth
        let s0 = 0
        let s1 = 0
        let s2 = 0
        let s3 = 0
        for (let l = 0; l < depth; l++) {
          const x = b[b0 + l]
          s0 += a[a0 + l] * x
          s1 += a[a1 + l] * x
          s2 += a[a2 + l] * x
          s3 += a[a3 + l] * x
        }
        c[i * ldc + j] = s0
        c[(i + 1) * ldc + j] = s1
        c[(i + 2) * ldc + j] = s2
        c[(i + 3) * ldc + j] = s3
      }
    }
    for (; i < m; i++) {
      const a0 = (aRow + i) * depth
      for (let j = 0; j < n; j++) {
        const b0 = (bRow + j) * depth
        let s = 0
        for (let l = 0; l < depth; l++) s += a[a0 + l] * b[b0 + l]
        c[i * ldc + j] = s
      }
    }
  },
}

/**
 * OpenBLAS when it loads, else the JS kernel with a one-line warning for progress.
 */
export function defaultDotKernel(): { kernel: DotKernel; warning?: string } {
  const blas = openBlasKernel()
  if (blas.kernel) return { kernel: blas.kernel }
  return {
    kernel: jsDotKernel,
    warning: `warning: ${blas.reason}; KNN falls back to a pure-JS kernel (same results, ~50x slower)`,
  }
}
