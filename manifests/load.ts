import { readFileSync } from 'node:fs'
import { parse as parseToml, TomlError } from 'smol-toml'
import type { z } from 'zod'
import { MODELS } from '../models/registry/index.ts'
import { ManifestError } from './errors.ts'
import { jobId } from './job-id.ts'
import type { HostPolicy, JobSpec, Manifest } from './job-spec.ts'
import { JobSchema, ManifestSchema } from './schema.ts'

/** Formats a path the way TOML users read it: `jobs[3].hyper.k`. */
export function tomlPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else {
      const key = String(part)
      const bare = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key)
      out += out === '' ? bare : `.${bare}`
    }
  }
  return out
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (typeof value === 'bigint') return value.toString()
  if (Array.isArray(value)) return 'an array'
  if (value !== null && typeof value === 'object') return 'a table'
  return JSON.stringify(value)
}

/** Turns the first zod issue into a `ManifestError` naming the file, path and expectation. */
function issueToError(file: string, prefix: readonly PropertyKey[], error: z.ZodError): ManifestError {
  const issue = error.issues[0]
  const path = [...prefix, ...issue.path]
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys
    const where = tomlPath([...path, keys[0]])
    return new ManifestError(
      file,
      where,
      `unknown key "${keys[0]}"${keys.length > 1 ? ` (and ${keys.slice(1).join(', ')})` : ''}`,
    )
  }
  const got = 'input' in issue ? `, got ${describe(issue.input)}` : ''
  return new ManifestError(file, tomlPath(path), `${issue.message}${got}`)
}

/**
 * Parses and validates manifest text.
 * @param file - the name errors carry (a path, or `<stdin>`).
 * @throws ManifestError on bad TOML, a schema error, an unknown model or hyper key, or a duplicate job.
 */
export function parseManifest(text: string, file: string): Manifest {
  let raw: unknown
  try {
    raw = parseToml(text)
  } catch (err) {
    if (err instanceof TomlError) {
      throw new ManifestError(
        file,
        '',
        `invalid TOML at line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}`,
      )
    }
    throw err
  }
  const top = ManifestSchema.safeParse(raw, { reportInput: true })
  if (!top.success) throw issueToError(file, [], top.error)

  const jobs: JobSpec[] = []
  const seen = new Map<string, number>()
  top.data.jobs.forEach((rawJob, index) => {
    const job = parseJobTable(rawJob, file, ['jobs', index])
    const dup = seen.get(job.id)
    if (dup !== undefined) {
      throw new ManifestError(
        file,
        tomlPath(['jobs', index]),
        `duplicate of jobs[${dup}] (same model, mode, hyper, split, train_hosts and seed)`,
      )
    }
    seen.set(job.id, index)
    jobs.push(job)
  })

  const hosts: ReadonlyMap<string, HostPolicy> = new Map(Object.entries(top.data.hosts))
  return { file, fleet: top.data.fleet, hosts, jobs }
}

/**
 * Validates one `[[jobs]]` table (the `JobSchema` fields, then the model's own hyper
 * schema) and computes its id.
 * @param at - the table's TOML path, for errors (`['jobs', 3]`; `[]` for a job file).
 * @throws ManifestError naming the file and the path of the bad field.
 */
export function parseJobTable(raw: unknown, file: string, at: readonly PropertyKey[]): JobSpec {
  const parsed = JobSchema.safeParse(raw, { reportInput: true })
  if (!parsed.success) throw issueToError(file, at, parsed.error)
  const j = parsed.data
  const hyper = j.hyper ?? {}
  const checked = MODELS[j.model].hyper.safeParse(hyper, { reportInput: true })
  if (!checked.success) throw issueToError(file, [...at, 'hyper'], checked.error)
  const identity = {
    model: j.model,
    mode: j.mode,
    hyper,
    split: j.split ?? {},
    train_hosts: j.train_hosts ?? [],
    seed: j.seed ?? 0,
  }
  const { model: _m, mode: _mo, hyper: _h, split: _s, train_hosts: _t, seed: _se, ...constraints } = j
  return { id: jobId(identity), ...identity, ...constraints }
}

/**
 * Reads a job file (`cis490-node train --job-file`): one `[[jobs]]` table written as JSON
 * with the same field names (CONTRACTS §4).
 * @throws ManifestError naming the file and the field (`hyper.k`).
 */
export function loadJobFile(file: string): JobSpec {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ManifestError(file, '', `cannot read job file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new ManifestError(file, '', `invalid JSON: ${(err as Error).message}`)
  }
  return parseJobTable(raw, file, [])
}

/**
 * Reads and validates a manifest file.
 * @throws ManifestError naming the file when it cannot be read or is invalid.
 */
export function loadManifest(file: string): Manifest {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ManifestError(file, '', `cannot read manifest: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  return parseManifest(text, file)
}
