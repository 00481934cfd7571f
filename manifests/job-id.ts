import { createHash } from 'node:crypto'
import canonicalize from 'canonicalize'
import type { JobId, JobIdentity } from './job-spec.ts'

/**
 * The RFC 8785 (JCS) canonical JSON of a job's identity fields.
 *
 * @remarks Absent fields count as `{}`, `{}`, `[]` and `0` so that writing a default
 * explicitly and leaving it out give different ids only for `hyper` values, never for
 * the structural defaults.
 */
export function canonicalJobIdentity(
  job: Partial<JobIdentity<string>> & Pick<JobIdentity<string>, 'model' | 'mode'>,
): string {
  const identity = {
    model: job.model,
    mode: job.mode,
    hyper: job.hyper ?? {},
    split: job.split ?? {},
    train_hosts: job.train_hosts ?? [],
    seed: job.seed ?? 0,
  }
  const text = canonicalize(identity)
  if (text === undefined) throw new TypeError('job identity cannot be canonicalised')
  return text
}

/** The job id: sha256 hex of the canonical identity JSON. */
export function jobId(job: Partial<JobIdentity<string>> & Pick<JobIdentity<string>, 'model' | 'mode'>): JobId {
  return createHash('sha256').update(canonicalJobIdentity(job), 'utf8').digest('hex') as JobId
}

/** The short form tables show: the first 12 hex digits. */
export function shortId(id: string): string {
  return id.slice(0, 12)
}

/**
 * Finds the one id among `ids` that starts with `prefix`.
 * @throws Error naming the prefix when none or several match.
 */
export function resolveIdPrefix<T extends string>(ids: Iterable<T>, prefix: string): T {
  const p = prefix.toLowerCase()
  if (!/^[0-9a-f]{1,64}$/.test(p)) throw new Error(`job id "${prefix}": expected hex digits`)
  const found = [...ids].filter((id) => id.startsWith(p))
  if (found.length === 0) throw new Error(`job id "${prefix}": no job has this id or prefix`)
  if (found.length > 1)
    throw new Error(`job id "${prefix}": ambiguous, matches ${found.map(shortId).join(', ')}; give more digits`)
  return found[0]
}
