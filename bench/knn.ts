/**
 * KNN predict (search + vote) through OpenBLAS vs scikit-learn's brute-force
 * `KNeighborsClassifier` on the same standardised float32 data, measured in the same run.
 * Target: within 2x of scikit-learn, aiming to beat it.
 *
 * Both sides time predict only (scikit-learn's `fit` for brute is a copy; ours builds
 * the augmented index, timed separately). scikit-learn gets the float32 values as
 * float64 (what the bundle README does) and, for reference, as float32. Also timed here,
 * for the thread choice in models/knn/blas.ts: predict with 1 and 2 OpenBLAS threads,
 * and the time spent outside the GEMM. Python is Debian's /usr/bin/python3 (`PYTHON` overrides).
 *
 *   npx node bench/knn.ts [train=100000] [queries=10000] [features=145] [k=10] [reps=3] [--json]
 *
 * With `--json` the last stdout line is one JSON object of the figures (for bench/run.ts).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { type DotKernel, fitKnn, isOpenBlas, loadOpenBlas, openBlasKernel, predictKnn } from '../models/knn/index.ts'
import { mulberry32 } from '../test/helpers/memory-dataset.ts'

const [trainArg, queriesArg, featuresArg, kArg, repsArg] = process.argv
  .slice(2)
  .filter((a) => a !== '--json')
  .map(Number)
const n = trainArg || 100_000
const m = queriesArg || 10_000
const f = featuresArg || 145
const k = kArg || 10
const reps = repsArg || 3
const classes = 6
const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3')

/** Standardised-looking data: 6 class centres, unit noise, queries from the same mixture. */
function synthesize(rows: number, seed: number): { X: Float32Array; y: Int32Array } {
  const rand = mulberry32(seed)
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
  let cs = 99
  const centre = Float32Array.from({ length: classes * f }, () => {
    cs = (cs * 1103515245 + 12345) % 2147483648
    return (cs / 2147483648 - 0.5) * 0.6
  })
  const X = new Float32Array(rows * f)
  const y = new Int32Array(rows)
  for (let r = 0; r < rows; r++) {
    const c = Math.floor(rand() * classes)
    y[r] = c
    for (let j = 0; j < f; j++) X[r * f + j] = centre[c * f + j] + gauss()
  }
  return { X, y }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (s: number) => `${s.toFixed(3)} s`

const blas = loadOpenBlas()
const kernel = openBlasKernel().kernel
if (!kernel || !isOpenBlas(blas)) throw new Error('bench/knn.ts needs OpenBLAS (apt-get install libopenblas0)')
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model}), load average ${loadavg()[0].toFixed(2)}`)
console.log(`data: ${n} train x ${f} features, ${m} queries, k=${k}; ours: ${kernel.describe()}`)
const train = synthesize(n, 1)
const queries = synthesize(m, 2).X
const dir = mkdtempSync(join(tmpdir(), 'bench-knn-'))
try {
  writeFileSync(join(dir, 'X.bin'), new Uint8Array(train.X.buffer))
  writeFileSync(join(dir, 'y.bin'), new Uint8Array(train.y.buffer))
  writeFileSync(join(dir, 'Q.bin'), new Uint8Array(queries.buffer))
  writeFileSync(
    join(dir, 'sk.py'),
    `import json, sys, time
import numpy as np
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_info
f, k, reps = ${f}, ${k}, ${reps}
X = np.fromfile("X.bin", dtype="<f4").reshape(-1, f)
y = np.fromfile("y.bin", dtype="<i4")
Q = np.fromfile("Q.bin", dtype="<f4").reshape(-1, f)
out = {"blas": [(i.get("internal_api"), i.get("architecture"), i.get("num_threads")) for i in threadpool_info()]}
for name, dt in (("float64", np.float64), ("float32", np.float32)):
    clf = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(X.astype(dt), y)
    Qd = Q.astype(dt)
    times, cpu = [], []
    for _ in range(reps if name == "float64" else 1):
        t, c = time.perf_counter(), time.process_time()
        pred = clf.predict(Qd)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    out[name] = times
    out[name + "_cpu"] = cpu
    if name == "float64":
        pred.astype("<i4").tofile("pred.bin")
print(json.dumps(out))
`,
  )

  // Alternate: ours, scikit-learn, ours again, so both see the same machine load.
  const ours: number[] = []
  const oursCpu: number[] = []
  const runOurs = async () => {
    const t0 = performance.now()
    const model = fitKnn(
      train.X,
      f,
      train.y,
      k,
      Array.from({ length: classes }, (_, c) => `c${c}`),
    )
    const fitS = (performance.now() - t0) / 1000
    for (let r = 0; r < reps; r++) {
      const cpu0 = process.cpuUsage()
      const res = await predictKnn(model, queries, kernel)
      const cpu = process.cpuUsage(cpu0)
      ours.push(res.seconds)
      oursCpu.push((cpu.user + cpu.system) / 1e6)
      if (r === 0) console.log(`ours: index build ${fmt(fitS)}, exact rescans ${res.rescanned}`)
    }
    return { model, pred: (await predictKnn(model, queries, kernel)).pred }
  }
  const { model, pred } = await runOurs()
  const sk = JSON.parse(execFileSync(PYTHON, ['sk.py'], { cwd: dir, encoding: 'utf8' })) as {
    blas: unknown
    float64: number[]
    float64_cpu: number[]
    float32: number[]
  }
  await runOurs()
  const skPred = new Int32Array(new Uint8Array(readFileSync(join(dir, 'pred.bin'))).buffer)
  let agree = 0
  for (let i = 0; i < m; i++) if (skPred[i] === pred[i]) agree++

  // Thread choice (models/knn/blas.ts): full predicts with 2 and 1 OpenBLAS threads,
  // alternating, and the share of predict time spent outside the GEMM (what overlapping
  // the GEMM with the scan could hide at most), timed around each GEMM call.
  let inGemm = 0
  const timed: DotKernel = {
    ...kernel,
    product(...args) {
      const t0 = performance.now()
      kernel.product(...args)
      inGemm += performance.now() - t0
    },
  }
  const threadsBefore = blas.threads()
  const byThreads: Record<number, number[]> = { 1: [], 2: [] }
  const outside: number[] = []
  for (let r = 0; r < 2; r++) {
    for (const threads of [2, 1]) {
      blas.setThreads(threads)
      inGemm = 0
      const res = await predictKnn(model, queries, timed)
      byThreads[threads].push(res.seconds)
      outside.push(res.seconds - inGemm / 1000)
    }
  }
  blas.setThreads(threadsBefore)

  const oursMed = median(ours)
  const skMed = median(sk.float64)
  console.log(`scikit-learn ${JSON.stringify(sk.blas)}`)
  console.log(`ours predict:         median ${fmt(oursMed)} (runs ${ours.map(fmt).join(', ')})`)
  console.log(`scikit-learn float64: median ${fmt(skMed)} (runs ${sk.float64.map(fmt).join(', ')})`)
  console.log(
    `CPU seconds (steadier on a shared machine): ours median ${fmt(median(oursCpu))}, ` +
      `scikit-learn median ${fmt(median(sk.float64_cpu))} -> ratio ${(median(oursCpu) / median(sk.float64_cpu)).toFixed(2)}x`,
  )
  console.log(`scikit-learn float32: ${fmt(sk.float32[0])}`)
  console.log(`predictions equal to scikit-learn's: ${agree} / ${m}`)
  console.log(
    `threads: predict with 2 OpenBLAS threads ${byThreads[2].map(fmt).join(', ')}; with 1 thread ${byThreads[1].map(fmt).join(', ')}`,
  )
  console.log(`outside the GEMM (scan, re-rank, vote): ${outside.map(fmt).join(', ')}`)
  console.log(`ratio ours / scikit-learn (float64): ${(oursMed / skMed).toFixed(2)}x (target <= 2x, aim < 1x)`)
  if (process.argv.includes('--json')) {
    console.log(
      JSON.stringify({
        train: n,
        queries: m,
        features: f,
        k,
        ours_median_s: oursMed,
        sklearn_median_s: skMed,
        ours_cpu_median_s: median(oursCpu),
        sklearn_cpu_median_s: median(sk.float64_cpu),
        agree,
      }),
    )
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
