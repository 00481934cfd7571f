export type { DerivedJob, JobStatus, LocalView, TrustConfig } from './derive.ts'
export { compareClaims, deriveJobs, deriveRecords, hostMayRun, isTerminal, JOB_STATUS, winnerOf } from './derive.ts'
export type { LocallyLapsed } from './derived-table.ts'
export { DerivedTable } from './derived-table.ts'
export type { JobTable, JobTableDoc } from './job-table-doc.ts'
export { appendRecords, createJobTable, loadJobTable, recordsOf, saveJobTable } from './job-table-doc.ts'
export { LeaseTable } from './lease-table.ts'
export { MinHeap } from './min-heap.ts'
export type { JobRecord, RecordType, UnsignedRecord, VerifiedRecord } from './records.ts'
export { decodeRecord, encodeRecord, OPERATOR_RECORD_TYPES, RECORD_TYPES } from './records.ts'
export type { Signer } from './signer.ts'
export { comparePeerIds, keySigner, verifySignature } from './signer.ts'
export type { JobResult } from './transitions.ts'
export {
  applyManifest,
  cancelJob,
  claimJob,
  completeJob,
  failJob,
  lapseJob,
  RequeueRunningError,
  releaseJob,
  requeueJob,
  startJob,
} from './transitions.ts'
