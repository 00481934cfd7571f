import { createHash } from 'node:crypto'
import { readdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { type Command, InvalidArgumentError } from 'commander'
import { CID } from 'multiformats/cid'
import { datasetCid, shortId } from '../../manifests/index.ts'
import type { FetchJson } from '../../node/api/index.ts'
import { RunError, UsageError } from '../errors.ts'
import { API_OPTION, type ApiClient, apiClient } from './api-client.ts'

/** How long the node may take to fetch the whole DAG unless `--timeout` says. */
const DEFAULT_TIMEOUT_S = 300
const POLL_MS = 200

interface FetchFlags {
  out: string
  api?: string
  json?: boolean
  timeout: number
}

/** What `fetch` names: a CID, or a job whose bundle it is. */
type Target = { cid: string } | { job: string }

/**
 * `CID` or a job id / unique prefix.
 * @throws UsageError naming the input when it is neither.
 */
export function fetchTarget(text: string): Target {
  const cid = datasetCid(text)
  if (cid !== null) return { cid }
  if (/^[0-9a-fA-F]{1,64}$/.test(text)) return { job: text.toLowerCase() }
  throw new UsageError(`"${text}": expected a CID (bafy...) or a job id or unique prefix (hex digits)`)
}

function secondsArg(value: string): number {
  const n = Number(value)
  if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0) || n > 86_400)
    throw new InvalidArgumentError(`expected seconds in (0, 86400], got "${value}"`)
  return n
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(bytes < 10 * 1024 * 1024 ? 2 : 1)} MiB`
}

/**
 * Progress on stderr: a bar redrawn in place on a terminal, otherwise a plain line now and then
 * (every 2 s, and at the end) so that logs stay short.
 */
class FetchProgress {
  private readonly tty = process.stderr.isTTY === true
  private last = 0
  private drawn = false

  private readonly label: string

  constructor(label: string) {
    this.label = label
  }

  update(s: FetchJson): void {
    const known = Math.max(s.blocks_known, s.blocks, 1)
    if (this.tty) {
      const width = 30
      const filled = Math.min(width, Math.round((s.blocks / known) * width))
      const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`
      process.stderr.write(`\r${this.label} [${bar}] ${s.blocks}/${known} blocks ${mib(s.bytes)}   `)
      this.drawn = true
      return
    }
    const now = Date.now()
    if (now - this.last < 2000 && s.state === 'fetching') return
    this.last = now
    process.stderr.write(`${this.label}: ${s.blocks}/${known} blocks, ${mib(s.bytes)}, ${s.state}\n`)
  }

  end(): void {
    if (this.tty && this.drawn) process.stderr.write('\n')
  }
}

/**
 * A read-only block source over the node's `GET /v1/blocks/{cid}`: every block is hashed
 * here again before the exporter uses it, so a file written is the file the CID names.
 */
function apiBlockSource(api: ApiClient, signal: AbortSignal) {
  return {
    async *get(cid: CID): AsyncGenerator<Uint8Array> {
      const bytes = await api.getBytes(`/v1/blocks/${cid}`, { signal })
      if (bytes === null) throw new RunError(`block ${cid} is not on the node after its fetch (was it removed?)`)
      if (cid.multihash.code !== 0x12 || !equalBytes(createHash('sha256').update(bytes).digest(), cid.multihash.digest))
        throw new RunError(`block ${cid}: the node sent bytes that do not hash to it`)
      yield bytes
    },
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i])
}

async function treeSize(dir: string): Promise<{ files: number; bytes: number }> {
  const out = { files: 0, bytes: 0 }
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue
    out.files++
    out.bytes += (await stat(join(e.parentPath, e.name))).size
  }
  return out
}

/** Registers `fetch`. */
export function registerFetchCommand(program: Command): void {
  program
    .command('fetch')
    .description('fetch a bundle (or any UnixFS directory) from the fleet by CID or job id, and write its files')
    .argument('<target>', 'a root CID (bafy...), or a job id or unique prefix (its bundle)')
    .requiredOption('--out <dir>', 'directory to create with the files (must not exist)')
    .option(...API_OPTION)
    .option('--timeout <seconds>', 'give up when the whole DAG is not here by then', secondsArg, DEFAULT_TIMEOUT_S)
    .option('--json', 'print {cid, job, out, files, bytes, blocks, seconds}')
    .addHelpText(
      'after',
      [
        '',
        "The local node fetches the DAG from the fleet over bitswap (asking the job's owner and the",
        'store peers first, every block hashed, unanswered wants sent again to the peers connected',
        "then), pins it in its block store, and this command writes the files from the node's blocks",
        '(hashed again here) into --out: into a temporary sibling first, then renamed into place.',
        'Progress goes to stderr. Exit 1 when the node cannot find it in time, 2 for a bad CID,',
        'an unknown job or a job without a bundle.',
      ].join('\n'),
    )
    .action(async (text: string, flags: FetchFlags) => {
      const target = fetchTarget(text)
      const out = resolve(flags.out)
      if ((await stat(out).catch(() => null)) !== null)
        throw new UsageError(`--out ${flags.out}: already exists; give a new directory path`)
      const api = apiClient(flags)
      const started = performance.now()
      let state = await api.post<FetchJson & { job: string | null }>('/v1/fetch', {
        ...target,
        timeout_s: flags.timeout,
      })
      const label = state.job === null ? `fetch ${state.cid}` : `fetch ${shortId(state.job)} ${state.cid}`
      const progress = new FetchProgress(label)
      // the node enforces the timeout; this one only guards against a node that stops answering
      const deadline = Date.now() + flags.timeout * 1000 + 30_000
      try {
        for (;;) {
          progress.update(state)
          if (state.state !== 'fetching') break
          if (Date.now() > deadline) throw new RunError(`${label}: the node did not finish within ${flags.timeout} s`)
          await new Promise((r) => setTimeout(r, POLL_MS))
          state = { ...state, ...(await api.get<FetchJson>(`/v1/fetch/${state.cid}`)) }
        }
      } finally {
        progress.end()
      }
      if (state.state === 'failed') {
        const what = 'job' in target ? `the bundle of job ${target.job} (${state.cid})` : state.cid
        throw new RunError(`could not fetch ${what}: ${state.error ?? 'unknown error'}`)
      }
      // this one file, not node/blocks/index.ts: the index loads Helia and libp2p (5 s on a loaded host)
      const { exportUnixfsDirectory } = await import('../../node/blocks/unixfs-export.ts')
      const signal = AbortSignal.timeout(flags.timeout * 1000)
      await exportUnixfsDirectory(apiBlockSource(api, signal) as never, CID.parse(state.cid), out, signal).catch(
        (err: Error) => {
          if (err.name !== 'BlockExportError') throw err
          if (/not a UnixFS directory/.test(err.message))
            throw new UsageError(`${text}: ${err.message} (fetch exports directories: bundles and datasets)`)
          throw new RunError(err.message)
        },
      )
      const size = await treeSize(out)
      const seconds = Number(((performance.now() - started) / 1000).toFixed(3))
      if (flags.json === true) {
        process.stdout.write(
          `${JSON.stringify({ cid: state.cid, job: state.job, out, files: size.files, bytes: size.bytes, blocks: state.blocks, seconds })}\n`,
        )
        return
      }
      process.stdout.write(
        `fetched ${state.cid} into ${out}: ${size.files} file(s), ${size.bytes} bytes, in ${seconds.toFixed(1)} s\n`,
      )
    })
}
