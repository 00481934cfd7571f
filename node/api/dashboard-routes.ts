import type { DerivedJob } from '../../crdt/index.ts'
import { resolveIdPrefix } from '../../manifests/index.ts'
import type { ApiReply, ApiRequest } from './api-server.ts'
import { dashboardAsset } from './dashboard/assets.ts'
import { ApiRequestError } from './errors.ts'
import type { FleetView } from './fleet-view.ts'
import { dashboardJson } from './job-json.ts'

/** `GET /v1/jobs/{id}/log?kib=N`: the last N KiB by default. */
export const DEFAULT_LOG_KIB = 64
/** The most `kib` may ask for. */
export const MAX_LOG_KIB = 1024

/**
 * The job a path's `{id}` names: a full id or unique prefix of the view's table.
 * @throws ApiRequestError 404 when it names none (or several).
 */
export function findJob(view: FleetView, param: string): DerivedJob {
  let prefix: string
  try {
    prefix = decodeURIComponent(param)
  } catch {
    throw new ApiRequestError(404, `job id "${param}": expected hex digits`)
  }
  const jobs = view.jobs()
  let id: string
  try {
    id = resolveIdPrefix(
      jobs.map((j) => j.id as string),
      prefix,
    )
  } catch (err) {
    throw new ApiRequestError(404, (err as Error).message)
  }
  const job = jobs.find((j) => j.id === id)
  if (job === undefined) throw new ApiRequestError(404, `job id "${prefix}": no job has this id or prefix`)
  return job
}

/** `GET /v1/dashboard`: the page's snapshot (jobs with why they wait, workers, results with test hosts). */
export function dashboardSnapshot(view: FleetView): ApiReply {
  return { json: dashboardJson(view, Date.now()) }
}

/** `GET /` and the page's files, with its Content-Security-Policy. */
export function dashboardFile({ req }: ApiRequest, path: string): ApiReply {
  const asset = dashboardAsset(path)
  if (asset === null) throw new ApiRequestError(404, `no such path: ${req.url ?? path}`)
  return asset
}

/**
 * `GET /v1/jobs/{id}/log?kib=N` (1..1024, default 64): the tail of the training log of
 * this node's newest run of the job; 404 when this node never ran it (since its start).
 */
export async function jobLog(view: FleetView, { params, query }: ApiRequest): Promise<ApiReply> {
  const job = findJob(view, params[0])
  const kibText = query.get('kib')
  const kib = kibText === null ? DEFAULT_LOG_KIB : Number(kibText)
  if (kibText !== null && (!/^\d{1,4}$/.test(kibText) || kib < 1 || kib > MAX_LOG_KIB)) {
    throw new ApiRequestError(400, `kib "${kibText}": expected an integer from 1 to ${MAX_LOG_KIB}`)
  }
  const tail = view.runFiles === undefined ? null : await view.runFiles.runLog(job.id, kib * 1024)
  if (tail === null) throw new ApiRequestError(404, `job ${job.id.slice(0, 12)}: this node holds no training log of it`)
  return { json: { job: job.id, ...tail } }
}

/**
 * `GET /v1/jobs/{id}/metrics`: `bundle.json`'s metrics (per-class F1, confusion matrices)
 * of the job's bundle when this node trained it or stores its blocks; 404 otherwise.
 */
export async function jobMetrics(view: FleetView, { params }: ApiRequest): Promise<ApiReply> {
  const job = findJob(view, params[0])
  const report = view.runFiles === undefined ? null : await view.runFiles.bundleReport(job.id, job.bundle)
  if (report === null) throw new ApiRequestError(404, `job ${job.id.slice(0, 12)}: this node holds no bundle of it`)
  return { json: report }
}
