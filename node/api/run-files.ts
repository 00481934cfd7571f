import { constants } from 'node:fs'
import { open, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { exporter } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'
import { BUNDLE_JSON_FILE, BundleJsonSchema } from '../../models/bundle/index.ts'
import { TRAIN_LOG_FILE } from '../worker/process-trainer.ts'
import type { BundleReport, RunFilesView, RunLogTail } from './fleet-view.ts'

/** Largest `bundle.json` read for a report; a real one is a few KiB (features, classes, confusion). */
const MAX_BUNDLE_JSON_BYTES = 4 * 1024 * 1024

const JOB_ID = /^[0-9a-f]{64}$/
const RUN_DIR = /^([0-9a-f]{64})-g(\d{1,9})-r(\d{1,9})$/

interface RunDir {
  name: string
  generation: number
  round: number
}

/**
 * This node's runs of a job under `runsDir`, newest (highest generation, then round) first.
 * @remarks Only directory names of the trainer's own pattern count, so a job id never
 * becomes a path by itself: it selects among names read from the directory.
 */
async function runsOf(runsDir: string, jobId: string): Promise<RunDir[]> {
  if (!JOB_ID.test(jobId)) return []
  let names: string[]
  try {
    names = await readdir(runsDir)
  } catch {
    return []
  }
  const out: RunDir[] = []
  for (const name of names) {
    const m = RUN_DIR.exec(name)
    if (m === null || m[1] !== jobId) continue
    out.push({ name, generation: Number(m[2]), round: Number(m[3]) })
  }
  return out.sort((a, b) => b.generation - a.generation || b.round - a.round)
}

/** Reads at most `maxBytes` from the end of a regular file (never through a symlink), or null. */
async function readTail(path: string, maxBytes: number): Promise<{ bytes: Buffer; size: number } | null> {
  let fh: Awaited<ReturnType<typeof open>>
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch {
    return null
  }
  try {
    const st = await fh.stat()
    if (!st.isFile()) return null
    const length = Math.min(st.size, maxBytes)
    const bytes = Buffer.alloc(length)
    let read = 0
    while (read < length) {
      const r = await fh.read(bytes, read, length - read, st.size - length + read)
      if (r.bytesRead === 0) break
      read += r.bytesRead
    }
    return { bytes: bytes.subarray(0, read), size: st.size }
  } finally {
    await fh.close()
  }
}

/**
 * The tail of the training log of this node's newest run of `jobId` that has one.
 * @param maxBytes - at most this many bytes from the end; a cut log starts at its first whole line.
 */
export async function readRunLog(runsDir: string, jobId: string, maxBytes: number): Promise<RunLogTail | null> {
  for (const run of await runsOf(runsDir, jobId)) {
    const tail = await readTail(join(runsDir, run.name, TRAIN_LOG_FILE), maxBytes)
    if (tail === null) continue
    const truncated = tail.bytes.length < tail.size
    let bytes = tail.bytes
    if (truncated) {
      const nl = bytes.indexOf(0x0a)
      bytes = nl >= 0 ? bytes.subarray(nl + 1) : bytes
    }
    return {
      run: run.name,
      generation: run.generation,
      round: run.round,
      size: tail.size,
      truncated,
      text: new TextDecoder('utf-8').decode(bytes),
    }
  }
  return null
}

/** `bundle.json` text as a report of `jobId`, or null when it is not a valid bundle.json of that job. */
function reportOf(
  text: string,
  jobId: string,
  from: Pick<BundleReport, 'source' | 'run' | 'bundle'>,
): BundleReport | null {
  let parsed: ReturnType<typeof BundleJsonSchema.safeParse>
  try {
    parsed = BundleJsonSchema.safeParse(JSON.parse(text))
  } catch {
    return null
  }
  if (!parsed.success || parsed.data.job_id !== jobId) return null
  const b = parsed.data
  const m = b.metrics
  return {
    job: jobId,
    ...from,
    classes: b.classes,
    hyper: b.hyper,
    split: {
      test_hosts: b.split.test_hosts,
      train_hosts: b.split.train_hosts,
      train_rows: b.split.train_rows,
      val_rows: b.split.val_rows,
      test_rows: b.split.test_rows,
    },
    metrics: {
      val_macro_f1: m.val_macro_f1,
      test_macro_f1: m.test_macro_f1,
      val_accuracy: m.val_accuracy,
      test_accuracy: m.test_accuracy,
      per_class_f1: m.per_class_f1,
      confusion: m.confusion,
    },
  }
}

/** Reads one stored block, or null when this node does not hold it. */
export type BlockReader = (cid: CID) => Promise<Uint8Array | null>

/**
 * `bundle.json` of the job's bundle, from this node's newest run of the job that left a
 * valid one, else (given `readBlock`) from the bundle's blocks when this node stores them
 * (a store peer holds every bundle); null when neither has it.
 * @remarks The bundle CID comes from the table (any peer's word): it only ever names blocks
 * to read from the local store, and `bundle.json` is read up to 4 MiB and validated.
 */
export async function readBundleReport(
  runsDir: string,
  jobId: string,
  bundle: string | null,
  readBlock?: BlockReader,
): Promise<BundleReport | null> {
  for (const run of await runsOf(runsDir, jobId)) {
    const file = await readTail(join(runsDir, run.name, 'bundle', BUNDLE_JSON_FILE), MAX_BUNDLE_JSON_BYTES + 1)
    if (file === null || file.size > MAX_BUNDLE_JSON_BYTES) continue
    const report = reportOf(file.bytes.toString('utf8'), jobId, { source: 'run', run: run.name, bundle })
    if (report !== null) return report
  }
  if (bundle === null || readBlock === undefined || !JOB_ID.test(jobId)) return null
  const text = await readStoredFile(`${bundle}/${BUNDLE_JSON_FILE}`, readBlock, MAX_BUNDLE_JSON_BYTES)
  return text === null ? null : reportOf(text, jobId, { source: 'blocks', run: null, bundle })
}

/** A UnixFS file (`CID/path`) of at most `maxBytes` from the local blocks, or null. */
async function readStoredFile(path: string, readBlock: BlockReader, maxBytes: number): Promise<string | null> {
  const store = {
    async *get(cid: CID) {
      const bytes = await readBlock(cid)
      if (bytes === null) throw Object.assign(new Error(`block ${cid} is not stored here`), { name: 'NotFoundError' })
      yield bytes
    },
  }
  try {
    const entry = await exporter(path, store, { signal: AbortSignal.timeout(10_000) })
    if (entry.type !== 'file' && entry.type !== 'raw') return null
    if (Number(entry.size) > maxBytes) return null
    const chunks: Uint8Array[] = []
    let total = 0
    for await (const chunk of entry.content()) {
      total += chunk.byteLength
      if (total > maxBytes) return null
      chunks.push(chunk)
    }
    return Buffer.concat(chunks).toString('utf8')
  } catch {
    return null
  }
}

/** A `RunFilesView` over a node's `DATA_DIR/runs` and, given `readBlock`, its block store. */
export function runFilesView(runsDir: string, readBlock?: BlockReader): RunFilesView {
  return {
    runLog: (jobId, maxBytes) => readRunLog(runsDir, jobId, maxBytes),
    bundleReport: (jobId, bundle) => readBundleReport(runsDir, jobId, bundle, readBlock),
  }
}
