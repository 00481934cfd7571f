import type { DerivedJob, LocallyLapsed } from '../../crdt/index.ts'

/**
 * What the scheduler reads of the job table. `DerivedTable` (incremental) implements it;
 * `tableView` wraps the arrays `deriveJobs` returns.
 */
export interface JobTableView {
  get(id: string): DerivedJob | undefined
  /** Pending jobs, highest priority first, then by id. */
  pending(): Iterable<DerivedJob>
  /** Claimed and running jobs whose current round `peer` owns. */
  owned(peer: string): Iterable<DerivedJob>
  /** Jobs whose lease lapsed by this peer's observations while the document still shows the owner active. */
  lapsed(): Iterable<LocallyLapsed>
}

/**
 * A `JobTableView` over whole derivations.
 * @param local - `deriveJobs(doc, leases.view(now), trust)`
 * @param recorded - `deriveJobs(doc, view, trust)` with a view where no lease ever lapses
 *   (`lastSeen` always undefined); only needed to find lapses worth recording.
 */
export function tableView(local: readonly DerivedJob[], recorded: readonly DerivedJob[] = local): JobTableView {
  const byId = new Map(local.map((j) => [j.id as string, j]))
  const recordedById = new Map(recorded.map((j) => [j.id as string, j]))
  const isActive = (j: DerivedJob | undefined) => j !== undefined && (j.status === 'claimed' || j.status === 'running')
  return {
    get: (id) => byId.get(id),
    pending: () => local.filter((j) => j.status === 'pending'),
    owned: (peer) => local.filter((j) => isActive(j) && j.owner === peer),
    lapsed: () =>
      local.flatMap((job) => {
        const rec = recordedById.get(job.id)
        return (job.status === 'pending' || job.status === 'failed') && isActive(rec) && rec !== undefined
          ? [{ job, recorded: rec }]
          : []
      }),
  }
}
