import { keySigner, type Signer } from '../../crdt/index.ts'
import { type JobSpec, parseManifest } from '../../manifests/index.ts'
import { generateKey } from '../../node/index.ts'

/** n deterministic-enough signers (fresh Ed25519 keys). */
export async function makeSigners(n: number): Promise<Signer[]> {
  return Promise.all(Array.from({ length: n }, async () => keySigner(await generateKey())))
}

/** A manifest with `n` knn jobs (distinct seeds) and the given operator keys. */
export function manifestWithJobs(n: number, operatorKeys: readonly string[], extra = ''): { jobs: JobSpec[] } {
  const jobs = Array.from(
    { length: n },
    (_, i) =>
      `[[jobs]]\nmodel = "knn"\nmode = "realistic"\nseed = ${i}\npriority = ${i % 3}\nmax_attempts = 2\n${extra}`,
  ).join('\n')
  const text = `[fleet]\nname = "t"\ndataset = "d"\noperator_keys = ${JSON.stringify(operatorKeys)}\n\n${jobs}`
  return parseManifest(text, 'test.toml')
}

/** A LocalView at `now` with no lease observations (every active lease counts as just seen). */
export function freshView(now: number, leaseMs = 30_000) {
  return { now, leaseMs, lastSeen: () => undefined }
}

/**
 * The first shard of a job table's log that holds records (works on a document and inside
 * an `Automerge.change` callback): hostile edits aimed at records go there.
 */
export function busyShard<T>(log: readonly T[][]): T[] {
  const shard = log.find((s) => s.length > 0)
  if (shard === undefined) throw new Error('no shard of the log holds records')
  return shard
}
