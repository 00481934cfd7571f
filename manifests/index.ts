export { datasetCid, looksLikeCid } from './dataset-ref.ts'
export { ManifestError } from './errors.ts'
export { canonicalJobIdentity, jobId, resolveIdPrefix, shortId } from './job-id.ts'
export type {
  FleetConfig,
  HostPolicy,
  JobConstraints,
  JobId,
  JobIdentity,
  JobSpec,
  Manifest,
  SplitSpec,
} from './job-spec.ts'
export { DEFAULT_JOB_CONSTRAINTS, DEFAULT_LEASE_S } from './job-spec.ts'
export { loadJobFile, loadManifest, parseJobTable, parseManifest, tomlPath } from './load.ts'
export { JobSchema } from './schema.ts'
