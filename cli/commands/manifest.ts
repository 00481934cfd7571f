import type { Command } from 'commander'
import { type JobSpec, loadManifest, shortId } from '../../manifests/index.ts'
import { requireInputFile } from '../paths.ts'
import { formatTable } from '../table.ts'

function constraintsText(job: JobSpec): string {
  const parts: string[] = []
  if (job.require_cuda) parts.push('cuda')
  else if (job.prefer_cuda) parts.push('prefer-cuda')
  if (job.min_vram_gib > 0) parts.push(`vram>=${job.min_vram_gib}G`)
  if (job.min_ram_gib > 0) parts.push(`ram>=${job.min_ram_gib}G`)
  if (job.allowed_hosts.length > 0) parts.push(`hosts=${job.allowed_hosts.join(',')}`)
  if (job.max_attempts !== 3) parts.push(`attempts=${job.max_attempts}`)
  return parts.length > 0 ? parts.join(' ') : '-'
}

/** The JSON row of one job in `manifest check --json`. */
export function manifestJobJson(job: JobSpec) {
  return {
    id: job.id,
    model: job.model,
    mode: job.mode,
    priority: job.priority,
    hyper: job.hyper,
    split: job.split,
    train_hosts: job.train_hosts,
    seed: job.seed,
    require_cuda: job.require_cuda,
    prefer_cuda: job.prefer_cuda,
    min_vram_gib: job.min_vram_gib,
    min_ram_gib: job.min_ram_gib,
    allowed_hosts: job.allowed_hosts,
    max_attempts: job.max_attempts,
  }
}

/** Registers `manifest check`. */
export function registerManifestCommands(program: Command): void {
  const manifest = program.command('manifest').description('work with job manifests (TOML)')
  manifest
    .command('check')
    .description('validate a manifest and list its jobs (exit 2 with the error on a bad manifest)')
    .argument('<file>', 'the manifest TOML file')
    .option('--json', 'print [{id, model, mode, priority, ...}] instead of a table')
    .action((file: string, opts: { json?: boolean }) => {
      requireInputFile('', file, 'a manifest (TOML)')
      const m = loadManifest(file)
      if (opts.json === true) {
        process.stdout.write(`${JSON.stringify(m.jobs.map(manifestJobJson), null, 2)}\n`)
        return
      }
      const rows = m.jobs.map((j) => [shortId(j.id), j.model, j.mode, String(j.priority), constraintsText(j)])
      process.stdout.write(formatTable(['ID', 'MODEL', 'MODE', 'PRIORITY', 'CONSTRAINTS'], rows))
      process.stdout.write(`${m.jobs.length} job(s), fleet "${m.fleet.name}", dataset ${m.fleet.dataset}\n`)
    })
}
