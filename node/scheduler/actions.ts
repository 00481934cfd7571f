import type { UnsignedRecord } from '../../crdt/index.ts'
import type { JobId } from '../../manifests/index.ts'

type Unsigned<T extends UnsignedRecord['t']> = Extract<UnsignedRecord, { t: T }>

/** One round of one job generation: what a lease, a claim and a run are about. */
export interface RoundRef {
  readonly job: JobId
  readonly generation: number
  readonly round: number
}

/** Why the scheduler stops a run (or gives up a claim). */
export const STOP_REASONS = {
  lostTie: 'lost-tie',
  cancelled: 'cancelled',
  requeued: 'requeued',
  completedElsewhere: 'completed-elsewhere',
  superseded: 'superseded',
  leaseLapsed: 'lease-lapsed',
  unknownJob: 'unknown-job',
} as const
export type StopReason = (typeof STOP_REASONS)[keyof typeof STOP_REASONS]

/**
 * What the scheduler asks its host to do. Actions carrying a `record` append it (signed
 * by this peer) to the job table; the host appends all records of one decision in one
 * change, persists it, then performs the side effects (start or stop a trainer, send renewals).
 */
export type SchedulerAction =
  | (RoundRef & { type: 'claim'; score: number; record: Unsigned<'claim'> })
  | (RoundRef & { type: 'start'; attempt: number; record: Unsigned<'start'> })
  | (RoundRef & { type: 'stop'; reason: StopReason })
  | (RoundRef & { type: 'complete'; record: Unsigned<'complete'> })
  | (RoundRef & { type: 'fail'; record: Unsigned<'fail'> })
  | (RoundRef & { type: 'release'; record: Unsigned<'release'> })
  | (RoundRef & { type: 'lapse'; owner: string; record: Unsigned<'lapse'> })
  | { type: 'renew'; leases: readonly RoundRef[] }

/** The actions of one scheduling decision and when to ask again (this peer's clock, ms; null = only on news). */
export interface Decision {
  readonly actions: SchedulerAction[]
  readonly wakeAt: number | null
}

/** How a training run ended. */
export type RunOutcome =
  | {
      readonly ok: true
      readonly bundle: string
      readonly valMacroF1: number | null
      readonly testMacroF1: number | null
      readonly fitSeconds: number
    }
  | { readonly ok: false; readonly error: string }
