export type { ApiLogger, ApiReply, ApiRequest, ApiServerComponents, ApiServerInit } from './api-server.ts'
export { ApiServer, DEFAULT_API_SERVER_INIT } from './api-server.ts'
export { type BlockView, type FetchJson, RAW_BLOCK_TYPE } from './block-routes.ts'
export { DASHBOARD_CSP } from './dashboard/assets.ts'
export { DEFAULT_LOG_KIB, MAX_LOG_KIB } from './dashboard-routes.ts'
export { ApiListenError, ApiRequestError } from './errors.ts'
export {
  DEFAULT_FLEET_EVENTS_INIT,
  FleetEvents,
  type FleetEventsInit,
  type FleetEventVersions,
} from './event-stream.ts'
export type { BundleReport, FleetView, RunFilesView, RunLogTail, SubmitResult, WorkerInfo } from './fleet-view.ts'
export type {
  AttemptJson,
  DashboardJobJson,
  DashboardJson,
  DashboardResultJson,
  JobDetailJson,
  JobJson,
  ResultJson,
  WorkerJson,
} from './job-json.ts'
export { dashboardJson, jobDetailJson, jobJson, resultsJson } from './job-json.ts'
export { type BlockReader, readBundleReport, readRunLog, runFilesView } from './run-files.ts'
export { waitingReason, waitingReasons } from './waiting.ts'
