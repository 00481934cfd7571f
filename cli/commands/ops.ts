import type { Command } from 'commander'
import {
  cancelRecords,
  keySigner,
  manifestRecords,
  RequeueRunningError,
  requeueRecords,
  type Signer,
} from '../../crdt/index.ts'
import { type JobId, loadManifest, shortId } from '../../manifests/index.ts'
import type { JobDetailJson, SubmitResult } from '../../node/api/index.ts'
import { KeyFileError, loadPrivateKey } from '../../node/index.ts'
import { RunError, UsageError } from '../errors.ts'
import { API_OPTION, type ApiClient, apiClient } from './api-client.ts'
import { idPrefixArg } from './jobs.ts'

const KEY_OPTION = ['--key <file>', 'the operator key to sign with (env CIS490_OPERATOR_KEY)'] as const

interface OpsOptions {
  api?: string
  key?: string
  json?: boolean
}

/**
 * The operator signer from `--key FILE`, else `CIS490_OPERATOR_KEY`.
 * @throws UsageError naming the file when there is none or it is not an operator key.
 */
export function operatorSigner(option: string | undefined, env: NodeJS.ProcessEnv = process.env): Signer {
  const file = option ?? (env.CIS490_OPERATOR_KEY || undefined)
  if (file === undefined) {
    throw new UsageError('no operator key: pass --key FILE or set CIS490_OPERATOR_KEY (see `cis490-node keygen`)')
  }
  try {
    return keySigner(loadPrivateKey(file))
  } catch (err) {
    if (err instanceof KeyFileError) throw new UsageError(`operator key ${err.message}`)
    throw err
  }
}

/** The job as the record builders take it (the API's JSON carries the same id, generation and status). */
function jobRef(job: JobDetailJson) {
  return { id: job.id as JobId, generation: job.generation, status: job.status }
}

const toBase64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')

/** POSTs signed records; a rejected one is a run-time failure naming the node's reason. */
async function submit(api: ApiClient, records: readonly Uint8Array[]): Promise<SubmitResult> {
  const result = await api.post<SubmitResult>('/v1/ops', { records: records.map(toBase64) })
  if (result.rejected.length > 0) {
    const reasons = result.rejected.map((r) => `record ${r.index}: ${r.reason}`).join('; ')
    throw new RunError(`cis490-node at ${api.base} refused ${result.rejected.length} record(s): ${reasons}`)
  }
  return result
}

function printResult(opts: OpsOptions, result: SubmitResult, text: string): void {
  process.stdout.write(opts.json === true ? `${JSON.stringify(result, null, 2)}\n` : `${text}\n`)
}

/** Registers the operator commands `reload`, `cancel` and `requeue`: sign locally, POST /v1/ops. */
export function registerOpsCommands(program: Command): void {
  program
    .command('reload')
    .description(
      "sign a manifest's jobs with the operator key and send them to the node: new ids become pending,\n" +
        'changed constraints or priorities are updated, jobs already in the table keep their state',
    )
    .argument('<manifest>', 'the manifest TOML file')
    .option(...KEY_OPTION)
    .option(...API_OPTION)
    .option('--json', "print the node's answer {accepted, unchanged, rejected}")
    .action(async (file: string, opts: OpsOptions) => {
      const manifest = loadManifest(file)
      const signer = operatorSigner(opts.key)
      const api = apiClient(opts)
      if (manifest.jobs.length === 0) throw new UsageError(`${file}: no [[jobs]] to reload`)
      // existing = []: every job is signed, and the node drops specs equal to the ones it holds.
      const { records } = manifestRecords(signer, manifest, [], Date.now())
      const result = await submit(api, records)
      printResult(
        opts,
        result,
        `${file}: ${manifest.jobs.length} job(s): ${result.accepted} added or updated, ${result.unchanged} unchanged`,
      )
    })

  program
    .command('cancel')
    .description("cancel a job's current generation (its owner stops a running job)")
    .argument('<id>', 'a job id or unique prefix')
    .option(...KEY_OPTION)
    .option(...API_OPTION)
    .option('--json', "print the node's answer {accepted, unchanged, rejected}")
    .action(async (id: string, opts: OpsOptions) => {
      const prefix = idPrefixArg(id)
      const signer = operatorSigner(opts.key)
      const api = apiClient(opts)
      const job = await api.get<JobDetailJson>(`/v1/jobs/${prefix}`)
      if (job.status === 'completed' || job.status === 'failed') {
        throw new UsageError(
          `job ${shortId(job.id)} is ${job.status}; only pending, claimed or running jobs are cancelled`,
        )
      }
      const result = await submit(api, cancelRecords(signer, jobRef(job), Date.now()))
      const text =
        job.status === 'cancelled' || result.accepted === 0
          ? `job ${shortId(job.id)} is already cancelled`
          : `cancelled job ${shortId(job.id)} (generation ${job.generation})` +
            (job.status === 'running' || job.status === 'claimed' ? `; ${job.host ?? job.owner} stops it` : '')
      printResult(opts, result, text)
    })

  program
    .command('requeue')
    .description('start a new generation of a job (attempts from 1 again); refused for a running job without --force')
    .argument('<id>', 'a job id or unique prefix')
    .option('--force', 'requeue even a claimed or running job, abandoning its current run')
    .option(...KEY_OPTION)
    .option(...API_OPTION)
    .option('--json', "print the node's answer {accepted, unchanged, rejected}")
    .action(async (id: string, opts: OpsOptions & { force?: boolean }) => {
      const prefix = idPrefixArg(id)
      const signer = operatorSigner(opts.key)
      const api = apiClient(opts)
      const job = await api.get<JobDetailJson>(`/v1/jobs/${prefix}`)
      let records: Uint8Array[]
      try {
        records = requeueRecords(signer, jobRef(job), { force: opts.force === true }, Date.now())
      } catch (err) {
        if (err instanceof RequeueRunningError) throw new UsageError(err.message)
        throw err
      }
      const result = await submit(api, records)
      printResult(
        opts,
        result,
        `requeued job ${shortId(job.id)}: generation ${job.generation + 1} starts from attempt 1 (was ${job.status})`,
      )
    })
}
