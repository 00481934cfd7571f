import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import { MODEL_NAMES } from '../models/registry/index.ts'
import { datasetCid, looksLikeCid } from './dataset-ref.ts'
import { DEFAULT_JOB_CONSTRAINTS, DEFAULT_LEASE_S } from './job-spec.ts'

const hostName = z
  .string({ error: 'expected a hostname string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { error: 'expected a hostname (letters, digits, ".", "_", "-")' })
const modelName = z.enum(MODEL_NAMES, { error: `expected one of ${MODEL_NAMES.join(', ')}` })
const nonNegNumber = z
  .number({ error: 'expected a non-negative number' })
  .nonnegative({ error: 'expected a non-negative number' })

/** Operator public keys are the text `cis490-node keygen` prints: an Ed25519 libp2p peer id. */
export const OperatorKeyText = z.string({ error: 'expected an operator public key string' }).refine(
  (text) => {
    try {
      return peerIdFromString(text).type === 'Ed25519'
    } catch {
      return false
    }
  },
  { error: 'expected the Ed25519 public key text printed by `cis490-node keygen` (12D3KooW...)' },
)

export const FleetSchema = z.strictObject({
  name: z
    .string({ error: 'expected a fleet name string' })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: 'expected a fleet name of letters, digits, ".", "_", "-"' }),
  dataset: z
    .string({ error: 'expected a dataset path or CID' })
    .min(1, { error: 'expected a dataset path or CID' })
    .refine((d) => !looksLikeCid(d) || datasetCid(d) !== null, {
      error: 'looks like a CID but is not a valid one (copy the CID `cis490-node dataset add` printed)',
    }),
  operator_keys: z.array(OperatorKeyText, { error: 'expected an array of public key strings' }).default([]),
  lease_s: z
    .number({ error: 'expected a positive number of seconds' })
    .positive({ error: 'expected a positive number of seconds' })
    .default(DEFAULT_LEASE_S),
})

export const HostPolicySchema = z.strictObject({
  allow_jobs: z.array(modelName, { error: 'expected an array of model names' }).default([]),
  deny_jobs: z.array(modelName, { error: 'expected an array of model names' }).default([]),
  max_concurrent: z
    .int({ error: 'expected a positive integer' })
    .positive({ error: 'expected a positive integer' })
    .default(1),
})

export const SplitSchema = z.strictObject({
  test_hosts: z.array(hostName, { error: 'expected an array of hostnames' }).optional(),
  val_frac: z
    .number({ error: 'expected a number in [0, 1)' })
    .gte(0, { error: 'expected a number in [0, 1)' })
    .lt(1, { error: 'expected a number in [0, 1)' })
    .optional(),
})

/** One `[[jobs]]` table. `hyper` is checked against the model's own schema separately. */
export const JobSchema = z.strictObject({
  model: modelName,
  mode: z
    .string({ error: 'expected a feature mode name' })
    .regex(/^[A-Za-z0-9_-]+$/, { error: 'expected a feature mode name (letters, digits, "_", "-")' }),
  hyper: z.record(z.string(), z.unknown(), { error: 'expected a table of hyper-parameters' }).optional(),
  split: SplitSchema.optional(),
  train_hosts: z.array(hostName, { error: 'expected an array of hostnames' }).optional(),
  seed: z
    .int({ error: 'expected a non-negative integer' })
    .nonnegative({ error: 'expected a non-negative integer' })
    .optional(),
  priority: z.number({ error: 'expected a number' }).default(DEFAULT_JOB_CONSTRAINTS.priority),
  require_cuda: z.boolean({ error: 'expected true or false' }).default(DEFAULT_JOB_CONSTRAINTS.require_cuda),
  prefer_cuda: z.boolean({ error: 'expected true or false' }).default(DEFAULT_JOB_CONSTRAINTS.prefer_cuda),
  min_vram_gib: nonNegNumber.default(DEFAULT_JOB_CONSTRAINTS.min_vram_gib),
  min_ram_gib: nonNegNumber.default(DEFAULT_JOB_CONSTRAINTS.min_ram_gib),
  allowed_hosts: z.array(hostName, { error: 'expected an array of hostnames' }).default([]),
  max_attempts: z
    .int({ error: 'expected a positive integer' })
    .positive({ error: 'expected a positive integer' })
    .default(DEFAULT_JOB_CONSTRAINTS.max_attempts),
})

export const ManifestSchema = z.strictObject({
  fleet: FleetSchema,
  hosts: z.record(hostName, HostPolicySchema, { error: 'expected tables of host policies' }).default({}),
  jobs: z.array(z.unknown(), { error: 'expected an array of [[jobs]] tables' }).default([]),
})
