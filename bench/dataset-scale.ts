/**
 * Full-scale dataset bench: synth time and load time + peak RSS of the seed scale
 * (2 hosts x 567 episodes x 582 windows = 659,988 windows x 230 features), as CSV and parquet.
 *
 *   npx node bench/dataset-scale.ts [--windows 582] [--formats csv,parquet] [--dir DIR] [--keep] [--json]
 *
 * With `--json` the last stdout line is one JSON object of the figures (for bench/run.ts).
 *
 * References measured in the same run: writing and reading the same number of bytes with
 * plain fs calls (the disk and page cache), and the float32 matrix size (the memory floor).
 * Loads run in a child process each, so their peak RSS is their own.
 */
import { spawnSync } from 'node:child_process'
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadDataset, synthesizeDataset } from '../models/dataset/index.ts'

const { values } = parseArgs({
  options: {
    windows: { type: 'string', default: '582' },
    formats: { type: 'string', default: 'csv,parquet' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'child-load': { type: 'string' },
    mode: { type: 'string', default: 'oracle' },
    json: { type: 'boolean', default: false },
  },
})

if (values['child-load'] !== undefined) {
  // Child: load one dataset, report seconds and peak RSS as JSON.
  const t = performance.now()
  const d = await loadDataset(values['child-load'], values.mode)
  const seconds = (performance.now() - t) / 1000
  process.stdout.write(
    `${JSON.stringify({ seconds, rows: d.rows, features: d.features.length, maxRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`,
  )
  process.exit(0)
}

const mib = (b: number) => (b / 2 ** 20).toFixed(0)
const dirBytes = (dir: string) => readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0)

/** Reference: write `bytes` in 4 MB blocks and fsync, like the generator's sink. */
function rawWrite(path: string, bytes: number): number {
  const block = Buffer.alloc(1 << 22, 0x31)
  const t = performance.now()
  const fd = openSync(path, 'w')
  for (let left = bytes; left > 0; left -= block.length) writeSync(fd, block, 0, Math.min(left, block.length))
  fsyncSync(fd)
  closeSync(fd)
  return (performance.now() - t) / 1000
}

/** Reference: read every data file of `dir` in 4 MB blocks. */
function rawRead(dir: string): number {
  const block = Buffer.alloc(1 << 22)
  const t = performance.now()
  for (const f of readdirSync(dir)) {
    const fd = openSync(join(dir, f), 'r')
    while (readSync(fd, block, 0, block.length, null) > 0) {}
    closeSync(fd)
  }
  return (performance.now() - t) / 1000
}

const root = values.dir ?? mkdtempSync(join(tmpdir(), 'cis490-dataset-scale-'))
const windows = Number(values.windows)
mkdirSync(root, { recursive: true })
const figures: Record<string, unknown>[] = []
try {
  for (const format of values.formats.split(',') as ('csv' | 'parquet')[]) {
    const dir = join(root, format)
    let synthSeconds: number | undefined
    if (readdirSync(root).includes(format)) {
      console.log(`${format}: reusing ${dir}`)
    } else {
      const t = performance.now()
      await synthesizeDataset(dir, { format, windows })
      synthSeconds = (performance.now() - t) / 1000
    }
    const bytes = dirBytes(dir)
    const loads: Record<string, unknown>[] = []
    const figure: Record<string, unknown> = { format, bytes, synth_s: synthSeconds ?? null, loads }
    figures.push(figure)
    if (synthSeconds !== undefined) {
      const ref = rawWrite(join(root, 'raw-write.bin'), bytes)
      figure.raw_write_s = ref
      rmSync(join(root, 'raw-write.bin'))
      console.log(
        `${format} synth: ${synthSeconds.toFixed(1)} s for ${mib(bytes)} MiB (${(bytes / 2 ** 20 / synthSeconds).toFixed(0)} MiB/s); ` +
          `raw write of the same bytes ${ref.toFixed(1)} s -> ${(synthSeconds / ref).toFixed(1)}x`,
      )
    }
    for (const mode of ['oracle', 'realistic']) {
      const readRef = rawRead(dir)
      const child = spawnSync(
        process.execPath,
        [new URL(import.meta.url).pathname, '--child-load', dir, '--mode', mode],
        { encoding: 'utf8', maxBuffer: 1 << 20 },
      )
      if (child.status !== 0) throw new Error(`load child failed: ${child.stderr}`)
      const r = JSON.parse(child.stdout) as { seconds: number; rows: number; features: number; maxRssMiB: number }
      const matrixMiB = (r.rows * r.features * 4) / 2 ** 20
      loads.push({ mode, ...r, max_rss_mib: r.maxRssMiB, raw_read_s: readRef, matrix_mib: matrixMiB })
      console.log(
        `${format} load ${mode}: ${r.rows} x ${r.features} in ${r.seconds.toFixed(1)} s ` +
          `(raw read ${readRef.toFixed(2)} s -> ${(r.seconds / readRef).toFixed(1)}x); peak RSS ${r.maxRssMiB.toFixed(0)} MiB ` +
          `= ${(r.maxRssMiB / matrixMiB).toFixed(2)}x the ${matrixMiB.toFixed(0)} MiB float32 matrix`,
      )
    }
  }
  if (values.json) console.log(JSON.stringify({ windows, formats: figures }))
} finally {
  if (!values.keep && values.dir === undefined) rmSync(root, { recursive: true, force: true })
  else console.log(`datasets kept in ${root}`)
}
