import { RunError, UsageError } from '../errors.ts'

/** Where the CLI looks for the node's API when neither `--api` nor `CIS490_API` says. */
export const DEFAULT_API_ADDRESS = '127.0.0.1:7420'

/** A request's body: JSON, or bytes of a media type. */
type RequestBody = { json: unknown } | { bytes: Uint8Array; type: string }

/** How long one API call may take before the CLI gives up. */
const REQUEST_TIMEOUT_MS = 30_000

/**
 * The API base URL from `--api HOST:PORT` (or `http://HOST:PORT`), else `CIS490_API`, else the default.
 * @throws UsageError naming the option when the address is not HOST:PORT.
 */
export function apiBaseUrl(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.CIS490_API !== undefined && env.CIS490_API !== ''
  const text = option ?? (fromEnv ? (env.CIS490_API as string) : DEFAULT_API_ADDRESS)
  const source = option !== undefined ? '--api' : fromEnv ? 'CIS490_API' : 'the default API address'
  const bare = text.replace(/^http:\/\//, '').replace(/\/+$/, '')
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(bare)
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new UsageError(`${source} "${text}": expected HOST:PORT, e.g. 127.0.0.1:7420`)
  }
  return `http://${m[1]}:${Number(m[2])}`
}

/** Adds the `--api` option every command that talks to a node takes. */
export const API_OPTION = [
  '--api <host:port>',
  `the node's HTTP API (env CIS490_API; default ${DEFAULT_API_ADDRESS})`,
] as const

/**
 * A small client of the node's loopback HTTP API (docs/FORMATS.md §6).
 *
 * @remarks Errors are the CLI's: a node that does not answer is a `RunError` (exit 1) that
 * says how to start one; a 4xx answer is the caller's bad input (`UsageError`, exit 2)
 * carrying the API's reason; anything else is a `RunError`.
 */
export class ApiClient {
  /** `http://HOST:PORT`. */
  readonly base: string

  constructor(base: string) {
    this.base = base
  }

  /** GETs `path` and returns its JSON. */
  async get<T>(path: string, opts: { signal?: AbortSignal } = {}): Promise<T> {
    return this.call<T>('GET', path, undefined, opts.signal)
  }

  /** POSTs `body` as JSON to `path` and returns the answer's JSON. */
  async post<T>(path: string, body: unknown, opts: { signal?: AbortSignal } = {}): Promise<T> {
    return this.call<T>('POST', path, { json: body }, opts.signal)
  }

  /** GETs `path` as bytes (a block); null when the node answers 404. */
  async getBytes(path: string, opts: { signal?: AbortSignal } = {}): Promise<Uint8Array | null> {
    const res = await this.send('GET', path, undefined, opts.signal)
    if (res.status === 404) {
      await res.body?.cancel()
      return null
    }
    if (!res.ok) return this.parse<never>(res, path, await res.text())
    return new Uint8Array(await res.arrayBuffer())
  }

  /** POSTs bytes of a media type to `path` and returns the answer's JSON. */
  async postBytes<T>(path: string, bytes: Uint8Array, type: string, opts: { signal?: AbortSignal } = {}): Promise<T> {
    return this.call<T>('POST', path, { bytes, type }, opts.signal)
  }

  private async call<T>(method: string, path: string, body: RequestBody | undefined, signal?: AbortSignal): Promise<T> {
    const res = await this.send(method, path, body, signal)
    return this.parse<T>(res, path, await res.text())
  }

  private async send(
    method: string,
    path: string,
    body: RequestBody | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    try {
      return await fetch(`${this.base}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'json' in body ? 'application/json' : body.type },
        body: body === undefined ? undefined : 'json' in body ? JSON.stringify(body.json) : body.bytes,
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      })
    } catch (err) {
      throw this.unreachable(err, timeout.aborted)
    }
  }

  private parse<T>(res: Response, path: string, text: string): T {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new RunError(
        `${this.base}${path}: expected JSON from cis490-node, got HTTP ${res.status} "${text.slice(0, 200)}" ` +
          "(is this a cis490-node's API? pass --api HOST:PORT, the address `cis490-node start` logs as its API)",
      )
    }
    if (res.ok) return json as T
    const reason =
      typeof json === 'object' && json !== null && typeof (json as { error?: unknown }).error === 'string'
        ? (json as { error: string }).error
        : `HTTP ${res.status}`
    if (res.status >= 400 && res.status < 500) throw new UsageError(reason)
    throw new RunError(`cis490-node at ${this.base}: ${reason} (its node.log, in its data dir, says more)`)
  }

  private unreachable(err: unknown, timedOut: boolean): Error {
    if (timedOut)
      return new RunError(
        `cis490-node at ${this.base} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s ` +
          '(is it overloaded or stuck? its node.log, in its data dir, says what it is doing; try again)',
      )
    const cause = (err as { cause?: { code?: string; message?: string } }).cause
    const code = cause?.code ?? ''
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET') {
      return new RunError(
        `no cis490-node is running at ${this.base} (start one with \`cis490-node start\`, or pass --api HOST:PORT)`,
      )
    }
    return new RunError(
      `cannot reach cis490-node at ${this.base}: ${code || cause?.message || (err as Error).message} ` +
        '(is `cis490-node start` running on that host? pass --api HOST:PORT, or set CIS490_API, to name its API)',
    )
  }
}

/** The client for a command's `--api` option. */
export function apiClient(opts: { api?: string }): ApiClient {
  return new ApiClient(apiBaseUrl(opts.api))
}
