import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as Automerge from '@automerge/automerge'
import { createJobTable, recordsOf } from '../../crdt/index.ts'
import { FileDocumentStore } from '../../node/store/index.ts'
import { testChunk } from '../helpers/document-store-suite.ts'

const CHILD = fileURLToPath(new URL('./store-crash-child.ts', import.meta.url))

/** Runs the child until it has acknowledged `target` more records, then SIGKILLs it; returns the last acknowledged count. */
async function runAndKill(dir: string, target: number): Promise<{ start: number; acked: number }> {
  const child = spawn(process.execPath, [CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => {
    stderr += d
  })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  try {
    return await new Promise((resolve, reject) => {
      let start = -1
      let acked = 0
      let buffered = ''
      const timer = setTimeout(() => reject(new Error(`child made no progress in 30 s: ${stderr}`)), 30_000)
      child.once('exit', (code) => reject(new Error(`child exited (${code}) before the kill: ${stderr}`)))
      child.stdout.on('data', (d) => {
        buffered += d
        const lines = buffered.split('\n')
        buffered = lines.pop()!
        for (const line of lines) {
          if (line.startsWith('start ')) start = Number(line.slice(6))
          else acked = Math.max(acked, Number(line))
        }
        if (start >= 0 && acked >= start + target) {
          clearTimeout(timer)
          child.kill('SIGKILL')
          resolve({ start, acked })
        }
      })
    })
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  }
}

describe('FileDocumentStore under SIGKILL', () => {
  it('loads every append a killed process reported durable, across repeated crashes', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'cis490-store-crash-'))
    t.after(() => rm(root, { recursive: true, force: true }))
    const dir = join(root, 'table')
    let lastAcked = 0
    for (const target of [70, 45, 90]) {
      const { start, acked } = await runAndKill(dir, target)
      assert.ok(start >= lastAcked, `incarnation started from ${start} records, ${lastAcked} were acknowledged`)
      // The killed child's lock is stale: the parent takes it over, loads, and lets the next child in.
      const store = new FileDocumentStore(dir)
      try {
        const { chunks } = await store.load()
        let doc = createJobTable()
        for (const c of chunks) doc = Automerge.loadIncremental(doc, c)
        const records = recordsOf(doc) as Uint8Array[]
        assert.ok(records.length >= acked, `${records.length} records loaded, ${acked} acknowledged`)
        for (const [i, r] of records.entries()) assert.deepEqual(Uint8Array.from(r), testChunk(i, 40), `record ${i}`)
        t.diagnostic(`killed after ${acked} acknowledged (from ${start}); ${records.length} loaded`)
        lastAcked = records.length
      } finally {
        await store.close()
      }
    }
  })
})
