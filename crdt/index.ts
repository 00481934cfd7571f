export type { ChangeVerdict, SyncMessageVerdict } from './change-guard.ts'
export { checkChange, checkSyncMessage, MAX_DOCUMENT_BYTES } from './change-guard.ts'
export type { DerivedJob, JobStatus, LocalView, TableJobSpec, TrustConfig } from './derive.ts'
export { compareClaims, deriveJobs, deriveRecords, hostMayRun, isTerminal, JOB_STATUS, winnerOf } from './derive.ts'
export type { LocallyLapsed } from './derived-table.ts'
export { DerivedTable } from './derived-table.ts'
export { RequeueRunningError } from './errors.ts'
export type { AttemptOutcome, JobAttempt, JobHistoryOptions } from './job-history.ts'
export { ATTEMPT_OUTCOMES, jobHistory } from './job-history.ts'
export type { JobTable, JobTableDoc } from './job-table-doc.ts'
export {
  appendRanges,
  appendRecords,
  createJobTable,
  GENESIS_HASH,
  JOB_TABLE_VERSION,
  LOG_SHARD_IDS,
  LOG_SHARDS,
  loadJobTable,
  logShardFor,
  MAX_CHANGE_BYTES,
  MAX_CHANGE_OPS,
  OPS_PER_SHARD,
  recordsOf,
  saveJobTable,
} from './job-table-doc.ts'
export { LeaseTable } from './lease-table.ts'
export { MinHeap } from './min-heap.ts'
export type { JobResult, JobRound } from './record-builders.ts'
export {
  cancelRecord,
  claimRecord,
  completeRecord,
  failRecord,
  lapseRecord,
  MAX_ERROR_TEXT,
  releaseRecord,
  requeueRecord,
  specRecord,
  startRecord,
} from './record-builders.ts'
export type { JobRecord, RecordOf, RecordType, UnsignedOf, UnsignedRecord, VerifiedRecord } from './records.ts'
export { decodeRecord, encodeRecord, MAX_RECORD_BYTES, OPERATOR_RECORD_TYPES, RECORD_TYPES } from './records.ts'
export type { Signer } from './signer.ts'
export { comparePeerIds, keySigner, verifySignature } from './signer.ts'
export {
  cancelRecords,
  claimJob,
  completeJob,
  failJob,
  lapseJob,
  manifestRecords,
  releaseJob,
  requeueRecords,
  startJob,
} from './transitions.ts'
