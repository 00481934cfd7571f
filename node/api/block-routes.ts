import type { IncomingMessage } from 'node:http'
import { resolveIdPrefix, shortId } from '../../manifests/index.ts'
import type { ApiReply, ApiRequest } from './api-server.ts'
import { readBody, readJsonBody } from './body.ts'
import { ApiRequestError } from './errors.ts'
import type { FleetView } from './fleet-view.ts'

/** The media type of one raw block (as IPFS gateways name it). */
export const RAW_BLOCK_TYPE = 'application/vnd.ipld.raw'

/** Largest block `POST /v1/blocks/{cid}` takes (the importer's chunks are 256 KiB, dag-pb nodes smaller). */
const MAX_BLOCK_BYTES = 2 * 1024 * 1024

/** Longest fetch a client may ask for. */
const MAX_FETCH_TIMEOUT_S = 24 * 3600

/** Where one fetch stands (`POST /v1/fetch`, `GET /v1/fetch/{cid}`). */
export interface FetchJson {
  cid: string
  state: 'fetching' | 'done' | 'failed'
  /** Blocks of the DAG present so far, and the blocks known so far (the DAG is discovered as it is walked). */
  blocks: number
  blocks_known: number
  bytes: number
  /** Why it failed (it names the root and the blocks that never arrived), else null. */
  error: string | null
  started_at: number
  ended_at: number | null
}

/**
 * What the block routes use of the node: its block store and the fetches it runs for the CLI.
 * @remarks Methods throw errors named `BadCidError` (400), `BlockBytesError` (400) or
 * `IncompleteDagError` (409) for a client's bad input.
 */
export interface BlockView {
  /** Starts (or joins) fetching a DAG from the fleet into the block store; it is pinned when complete. */
  fetch(cid: string, options: { timeoutMs?: number; providers?: readonly string[] }): FetchJson
  fetchStatus(cid: string): FetchJson | null
  /** A stored block's bytes, or null. */
  block(cid: string): Promise<Uint8Array | null>
  /** Stores a block whose bytes hash to its CID; true when it was new. */
  putBlock(cid: string, bytes: Uint8Array): Promise<boolean>
  /** Pins a root whose whole DAG is stored. */
  pin(cid: string): Promise<void>
}

const CLIENT_ERRORS: Readonly<Record<string, number>> = {
  BadCidError: 400,
  BlockBytesError: 400,
  IncompleteDagError: 409,
}

/** Turns a block layer's input error into the API's refusal. */
async function asClientError<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    const status = CLIENT_ERRORS[(err as Error)?.name ?? '']
    if (status !== undefined) throw new ApiRequestError(status, (err as Error).message)
    throw err
  }
}

function started(blocks: BlockView | undefined): BlockView {
  if (blocks === undefined) throw new ApiRequestError(503, 'this node has no block store')
  return blocks
}

function cidParam(params: readonly string[]): string {
  try {
    return decodeURIComponent(params[0])
  } catch {
    throw new ApiRequestError(400, `cid "${params[0]}": not a CID`)
  }
}

/**
 * `POST /v1/fetch {"cid": CID} | {"job": ID_PREFIX}, "timeout_s"?: N`: the node fetches the DAG
 * (a job's bundle) from the fleet, asking the job's owner and the store peers first; 202 with
 * its state, which `GET /v1/fetch/{cid}` then reports.
 */
export async function startFetch(
  view: FleetView,
  store: BlockView | undefined,
  { req }: ApiRequest,
): Promise<ApiReply> {
  requireType(req, 'application/json', 'a fetch request')
  const body = await readJsonBody(req, 64 * 1024)
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ApiRequestError(400, 'request body: expected {"cid": CID} or {"job": JOB_ID}')
  const { cid, job, timeout_s: timeoutS, ...extra } = body as Record<string, unknown>
  if (Object.keys(extra).length > 0)
    throw new ApiRequestError(400, `request body: unknown field "${Object.keys(extra)[0]}"`)
  if ((cid === undefined) === (job === undefined))
    throw new ApiRequestError(400, 'request body: give exactly one of "cid" and "job"')
  if (timeoutS !== undefined && (typeof timeoutS !== 'number' || !(timeoutS > 0) || timeoutS > MAX_FETCH_TIMEOUT_S))
    throw new ApiRequestError(
      400,
      `timeout_s: expected seconds in (0, ${MAX_FETCH_TIMEOUT_S}], got ${JSON.stringify(timeoutS)}`,
    )
  const blocks = started(store)
  const self = view.health().peer_id
  const providers: string[] = []
  let root: string
  let jobId: string | null = null
  if (job !== undefined) {
    if (typeof job !== 'string' || !/^[0-9a-fA-F]{1,64}$/.test(job))
      throw new ApiRequestError(400, `job ${JSON.stringify(job)}: expected a job id or unique prefix (hex)`)
    const jobs = view.jobs()
    let id: string
    try {
      id = resolveIdPrefix(
        jobs.map((j) => j.id as string),
        job.toLowerCase(),
      )
    } catch (err) {
      throw new ApiRequestError(404, (err as Error).message)
    }
    const found = jobs.find((j) => j.id === id)
    if (found === undefined) throw new ApiRequestError(404, `job id "${job}": no job has this id or prefix`)
    if (found.bundle === null)
      throw new ApiRequestError(
        409,
        `job ${shortId(id)} (${found.spec.model} ${found.spec.mode}) is ${found.status}: it has no bundle` +
          (found.status === 'completed' ? '' : ' yet'),
      )
    root = found.bundle
    jobId = id
    if (found.owner !== null && found.owner !== self) providers.push(found.owner)
  } else {
    if (typeof cid !== 'string') throw new ApiRequestError(400, `cid ${JSON.stringify(cid)}: expected a CID string`)
    root = cid
  }
  for (const w of view.workers()) if (w.store && w.reachable && w.peer_id !== self) providers.push(w.peer_id)
  const state = await asClientError(() =>
    blocks.fetch(root, { timeoutMs: timeoutS === undefined ? undefined : timeoutS * 1000, providers }),
  )
  return { status: 202, json: { job: jobId, ...state } }
}

/** `GET /v1/fetch/{cid}`: the latest fetch of that CID on this node. */
export async function fetchStatus(store: BlockView | undefined, { params }: ApiRequest): Promise<ApiReply> {
  const cid = cidParam(params)
  const state = await asClientError(() => started(store).fetchStatus(cid))
  if (state === null) throw new ApiRequestError(404, `no fetch of ${cid} on this node (POST /v1/fetch starts one)`)
  return { json: state }
}

/** `GET /v1/blocks/{cid}`: one stored block's bytes (`application/vnd.ipld.raw`). */
export async function getBlock(store: BlockView | undefined, { params }: ApiRequest): Promise<ApiReply> {
  const cid = cidParam(params)
  const bytes = await asClientError(() => started(store).block(cid))
  if (bytes === null) throw new ApiRequestError(404, `block ${cid} is not stored on this node`)
  return { contentType: RAW_BLOCK_TYPE, bytes }
}

/** `POST /v1/blocks/{cid}` with the block's bytes as `application/vnd.ipld.raw`: stored when they hash to the CID. */
export async function putBlock(store: BlockView | undefined, { req, params }: ApiRequest): Promise<ApiReply> {
  const cid = cidParam(params)
  requireType(req, RAW_BLOCK_TYPE, 'a block')
  const bytes = await readBody(req, MAX_BLOCK_BYTES, 'a block')
  const added = await asClientError(() => started(store).putBlock(cid, bytes))
  return { json: { cid, new: added } }
}

/** `POST /v1/pins {"cid": CID}` (as JSON): pins a root whose whole DAG this node stores. */
export async function pinRoot(store: BlockView | undefined, { req }: ApiRequest): Promise<ApiReply> {
  requireType(req, 'application/json', 'a pin request')
  const body = await readJsonBody(req, 64 * 1024)
  const cid = (body as { cid?: unknown } | null)?.cid
  if (typeof cid !== 'string') throw new ApiRequestError(400, 'request body: expected {"cid": CID}')
  await asClientError(() => started(store).pin(cid))
  return { json: { cid, pinned: true } }
}

/**
 * Refuses a body of another media type. @remarks Neither type is one a web page may send to
 * another origin without asking first (CORS preflight, never granted here).
 */
function requireType(req: IncomingMessage, expected: string, what: string): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  if (type !== expected) throw new ApiRequestError(415, `${what} is sent as ${expected}, got ${JSON.stringify(type)}`)
}
