import { execFile } from 'node:child_process'
import { availableParallelism, totalmem } from 'node:os'
import { probeXgboost } from '../models/gbt/index.ts'
import type { HostCapability } from './scheduler/index.ts'

/** What a host found out about itself, beyond the capability that claims carry. */
export interface HostReport {
  readonly capability: HostCapability
  readonly xgboost: {
    readonly available: boolean
    readonly version?: string
    readonly cuda?: boolean
    readonly error?: string
  }
  readonly gpus: readonly { readonly name: string; readonly memory_gib: number }[]
  readonly node: string
}

/** GPUs `nvidia-smi` lists, or none when it is absent or fails (within `timeoutMs`). */
export function listNvidiaGpus(timeoutMs = 5000): Promise<{ name: string; memory_gib: number }[]> {
  return new Promise((done) => {
    execFile(
      'nvidia-smi',
      ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'],
      { timeout: timeoutMs, windowsHide: true },
      (err, stdout) => {
        if (err !== null) return done([])
        const gpus: { name: string; memory_gib: number }[] = []
        for (const line of stdout.split('\n')) {
          const [name, mib] = line.split(',').map((s) => s.trim())
          const n = Number(mib)
          if (name !== undefined && name !== '' && Number.isFinite(n)) gpus.push({ name, memory_gib: n / 1024 })
        }
        done(gpus)
      },
    )
  })
}

/**
 * Detects what this host offers: cores, RAM, CUDA and VRAM (`nvidia-smi`), and which
 * runtimes load (XGBoost's library; TensorFlow.js always, on its wasm backend).
 */
export async function detectHost(hostname: string): Promise<HostReport> {
  const gpus = await listNvidiaGpus()
  const xgb = probeXgboost()
  const capability: HostCapability = {
    hostname,
    cuda: gpus.length > 0,
    vram_gib: gpus.reduce((m, g) => Math.max(m, g.memory_gib), 0),
    ram_gib: Math.floor((totalmem() / 2 ** 30) * 10) / 10,
    cores: availableParallelism(),
    runtimes: xgb.available ? ['xgboost', 'tfjs'] : ['tfjs'],
  }
  return {
    capability,
    xgboost: {
      available: xgb.available,
      ...(xgb.version !== undefined ? { version: xgb.version } : {}),
      ...(xgb.cuda !== undefined ? { cuda: xgb.cuda } : {}),
      ...(xgb.error !== undefined ? { error: xgb.error } : {}),
    },
    gpus,
    node: process.version,
  }
}
