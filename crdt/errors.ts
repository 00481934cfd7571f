/** Refused: requeueing a claimed or running job needs `force` (CONTRACTS §5). */
export class RequeueRunningError extends Error {
  override name = 'RequeueRunningError'
  /** The job's full id. */
  readonly job: string

  constructor(
    job: string,
    message = `job ${job.slice(0, 12)} is running; requeue it with --force to abandon the current run`,
  ) {
    super(message)
    this.job = job
  }
}
