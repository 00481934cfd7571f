import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { JOB_STATUS, type JobStatus } from '../../crdt/index.ts'
import { type BlockView, fetchStatus, getBlock, pinRoot, putBlock, startFetch } from './block-routes.ts'
import { parseOpsBody, readJsonBody } from './body.ts'
import { DASHBOARD_PATHS } from './dashboard/assets.ts'
import { dashboardFile, dashboardSnapshot, findJob, jobLog, jobMetrics } from './dashboard-routes.ts'
import { ApiListenError, ApiRequestError } from './errors.ts'
import { FleetEvents, type FleetEventsInit } from './event-stream.ts'
import type { FleetView } from './fleet-view.ts'
import { jobDetailJson, jobJson, resultsJson } from './job-json.ts'

/** The logger calls the API makes (a pino logger fits). */
export interface ApiLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** What the API server uses. */
export interface ApiServerComponents {
  view: FleetView
  logger: ApiLogger
  /** The node's block store and its fetches for the CLI (`/v1/fetch`, `/v1/blocks`, `/v1/pins`); absent: 503 there. */
  blocks?: BlockView
  /** The node's Prometheus metrics (`GET /metrics`, a `NodeMetrics` fits); absent: 404 there. */
  metrics?: { readonly contentType: string; text(): Promise<string> }
}

/** Where the API listens and what it accepts. */
export interface ApiServerInit {
  /**
   * Address to bind; the API is meant for this host only.
   * @default '127.0.0.1'
   */
  host?: string
  /**
   * TCP port; 0 picks a free one (see `address()`).
   * @default 7420
   */
  port?: number
  /**
   * Largest request body accepted; larger ones get 413.
   * @default 8 MiB
   */
  maxBodyBytes?: number
  /** `/v1/events`: how many streams at once, how often the view is compared, the heartbeat. */
  events?: FleetEventsInit
}

/** Defaults of `ApiServerInit`. */
export const DEFAULT_API_SERVER_INIT: Readonly<Required<ApiServerInit>> = {
  host: '127.0.0.1',
  port: 7420,
  maxBodyBytes: 8 * 1024 * 1024,
  events: {},
}

/** A route's answer: JSON, or text of a given content type (for `/metrics` and the dashboard). */
export type ApiReply =
  | { status?: number; json: unknown }
  | { status?: number; contentType: string; text: string; headers?: Readonly<Record<string, string>> }
  | { status?: number; contentType: string; bytes: Uint8Array }
  /** The route answers on the response itself (the event stream). */
  | { stream: (req: IncomingMessage, res: ServerResponse) => void }

/** What a route handler gets: the request, the path's captured groups and the query. */
export interface ApiRequest {
  req: IncomingMessage
  params: readonly string[]
  query: URLSearchParams
}

type Handler = (request: ApiRequest) => ApiReply | Promise<ApiReply>
type Method = 'GET' | 'POST'

/** One path of the API and the handler of each method it answers. */
interface Route {
  readonly path: RegExp
  readonly methods: Partial<Record<Method, Handler>>
}

const STATUSES = new Set<string>(Object.values(JOB_STATUS))

/**
 * The node's loopback HTTP API (CONTRACTS §8) over a `FleetView`.
 *
 * @remarks Plain `node:http`: a table of routes (path pattern, handler per method), so
 * `/metrics` and the dashboard at `/` are one more entry each. Unknown paths answer 404,
 * known paths with another method 405 with `Allow`; every refusal is `{"error": reason}`.
 */
export class ApiServer {
  private readonly view: FleetView
  private readonly blocks: BlockView | undefined
  private readonly metrics: ApiServerComponents['metrics']
  private readonly log: ApiLogger
  private readonly init: Readonly<Required<ApiServerInit>>
  private readonly routes: readonly Route[]
  private readonly events: FleetEvents
  private server: Server | null = null
  private bound: { host: string; port: number } | null = null

  constructor(components: ApiServerComponents, init: ApiServerInit = {}) {
    this.view = components.view
    this.blocks = components.blocks
    this.metrics = components.metrics
    this.log = components.logger
    this.init = {
      host: init.host ?? DEFAULT_API_SERVER_INIT.host,
      port: init.port ?? DEFAULT_API_SERVER_INIT.port,
      maxBodyBytes: init.maxBodyBytes ?? DEFAULT_API_SERVER_INIT.maxBodyBytes,
      events: init.events ?? DEFAULT_API_SERVER_INIT.events,
    }
    this.events = new FleetEvents({ view: this.view }, this.init.events)
    this.routes = [
      { path: /^\/v1\/health$/, methods: { GET: () => ({ json: this.view.health() }) } },
      { path: /^\/v1\/jobs$/, methods: { GET: (r) => this.listJobs(r) } },
      { path: /^\/v1\/jobs\/([^/]+)$/, methods: { GET: (r) => this.showJob(r) } },
      { path: /^\/v1\/workers$/, methods: { GET: () => ({ json: this.view.workers() }) } },
      { path: /^\/v1\/results$/, methods: { GET: () => ({ json: resultsJson(this.view.jobs()) }) } },
      { path: /^\/v1\/ops$/, methods: { POST: (r) => this.submitOps(r) } },
      { path: /^\/v1\/fetch$/, methods: { POST: (r) => startFetch(this.view, this.blocks, r) } },
      { path: /^\/v1\/fetch\/([^/]+)$/, methods: { GET: (r) => fetchStatus(this.blocks, r) } },
      {
        path: /^\/v1\/blocks\/([^/]+)$/,
        methods: { GET: (r) => getBlock(this.blocks, r), POST: (r) => putBlock(this.blocks, r) },
      },
      { path: /^\/v1\/pins$/, methods: { POST: (r) => pinRoot(this.blocks, r) } },
      { path: /^\/v1\/jobs\/([^/]+)\/log$/, methods: { GET: (r) => jobLog(this.view, r) } },
      { path: /^\/v1\/jobs\/([^/]+)\/metrics$/, methods: { GET: (r) => jobMetrics(this.view, r) } },
      { path: /^\/v1\/dashboard$/, methods: { GET: () => dashboardSnapshot(this.view) } },
      { path: /^\/v1\/events$/, methods: { GET: () => ({ stream: (req, res) => this.events.attach(req, res) }) } },
      { path: /^\/metrics$/, methods: { GET: () => this.metricsText() } },
      { path: DASHBOARD_PATHS, methods: { GET: (r) => dashboardFile(r, r.params[0]) } },
    ]
  }

  /** Binds and starts serving; resolves once listening. Idempotent. */
  async start(): Promise<void> {
    if (this.server !== null) return
    // Short timeouts: the API is local and its answers small, so a slow client is a stuck one.
    const server = createServer(
      { keepAliveTimeout: 5_000, headersTimeout: 10_000, requestTimeout: 30_000 },
      (req, res) => {
        this.handle(req, res).catch((err) => this.log.error({ err }, 'api: request handling failed'))
      },
    )
    this.server = server
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(this.init.port, this.init.host, () => {
          server.off('error', reject)
          resolve()
        })
      })
    } catch (err) {
      this.server = null
      server.close()
      throw new ApiListenError(hostPort(this.init.host, this.init.port), err)
    }
    server.on('error', (err) => this.log.error({ err }, 'api: server error'))
    const addr = server.address() as AddressInfo
    this.bound = { host: addr.address, port: addr.port }
    this.log.info({ url: this.url }, 'api: listening')
  }

  /** Stops listening and closes every connection, keep-alive ones included. Idempotent. */
  async stop(): Promise<void> {
    const server = this.server
    if (server === null) return
    this.server = null
    this.bound = null
    this.events.stop()
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  /** The bound address while serving (the real port when `port` was 0), else null. */
  address(): { host: string; port: number } | null {
    return this.bound
  }

  /** `http://HOST:PORT` while serving, else null. */
  get url(): string | null {
    return this.bound === null ? null : `http://${hostPort(this.bound.host, this.bound.port)}`
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://api.invalid')
    } catch {
      this.reply(req, res, { status: 400, json: { error: `bad request target ${JSON.stringify(req.url)}` } })
      return
    }
    if (!this.hostAllowed(req.headers.host)) {
      this.reply(req, res, {
        status: 403,
        json: {
          error: `Host ${JSON.stringify(req.headers.host ?? '')} is not this loopback API (use 127.0.0.1 or localhost)`,
        },
      })
      return
    }
    const route = this.routes.find((r) => r.path.test(url.pathname))
    if (route === undefined) {
      this.reply(req, res, { status: 404, json: { error: `no such path: ${url.pathname}` } })
      return
    }
    const handler = route.methods[(req.method === 'HEAD' ? 'GET' : req.method) as Method]
    if (handler === undefined) {
      const allow = Object.keys(route.methods).join(', ')
      res.setHeader('Allow', allow)
      this.reply(req, res, {
        status: 405,
        json: { error: `${req.method} is not allowed on ${url.pathname} (allow: ${allow})` },
      })
      return
    }
    const params = (route.path.exec(url.pathname) ?? []).slice(1)
    try {
      this.reply(req, res, await handler({ req, params, query: url.searchParams }))
    } catch (err) {
      if (err instanceof ApiRequestError) {
        this.reply(req, res, { status: err.status, json: { error: err.message } })
        return
      }
      this.log.error({ err, path: url.pathname }, 'api: handler failed')
      this.reply(req, res, {
        status: 500,
        json: { error: `internal error: ${(err as Error)?.message ?? String(err)}` },
      })
    }
  }

  /**
   * On a loopback address only loopback names may be asked for: a web page that rebinds
   * its own DNS name to 127.0.0.1 must not read the job table through the browser.
   */
  private hostAllowed(host: string | undefined): boolean {
    const bound = this.bound?.host ?? this.init.host
    if (!isLoopback(bound)) return true
    if (host === undefined) return true // HTTP/1.0 clients send none; browsers always do
    const name = host
      .replace(/:\d+$/, '')
      .replace(/^\[(.*)\]$/, '$1')
      .toLowerCase()
    return name === 'localhost' || isLoopback(name)
  }

  private reply(req: IncomingMessage, res: ServerResponse, reply: ApiReply): void {
    if ('stream' in reply) {
      reply.stream(req, res)
      return
    }
    const status = reply.status ?? 200
    const body = 'json' in reply ? `${JSON.stringify(reply.json)}\n` : 'bytes' in reply ? reply.bytes : reply.text
    const type = 'json' in reply ? 'application/json; charset=utf-8' : reply.contentType
    res.statusCode = status
    res.setHeader('Content-Type', type)
    res.setHeader('Content-Length', typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength)
    res.setHeader('Cache-Control', 'no-store')
    if ('headers' in reply) for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v)
    if (!req.complete) {
      // The body was refused unread: close the connection rather than drain an unbounded upload.
      res.setHeader('Connection', 'close')
    }
    res.end(body)
    this.log.debug({ method: req.method, path: req.url, status }, 'api: request')
  }

  private listJobs({ query }: ApiRequest): ApiReply {
    const status = query.get('status')
    if (status !== null && !STATUSES.has(status)) {
      throw new ApiRequestError(400, `status "${status}": expected one of ${[...STATUSES].join(', ')}`)
    }
    const model = query.get('model')
    const mode = query.get('mode')
    const rows = this.view
      .jobs()
      .filter(
        (j) =>
          (status === null || j.status === (status as JobStatus)) &&
          (model === null || j.spec.model === model) &&
          (mode === null || j.spec.mode === mode),
      )
    return { json: rows.map(jobJson) }
  }

  private showJob({ params }: ApiRequest): ApiReply {
    const job = findJob(this.view, params[0])
    const jobs = this.view.jobs()
    return {
      json: jobDetailJson({
        job,
        records: this.view.records(job.id),
        workers: this.view.workers(),
        hostPolicies: this.view.hostPolicies(),
        jobs,
      }),
    }
  }

  private async metricsText(): Promise<ApiReply> {
    if (this.metrics === undefined) throw new ApiRequestError(404, 'this node serves no metrics')
    return { contentType: this.metrics.contentType, text: await this.metrics.text() }
  }

  private async submitOps({ req }: ApiRequest): Promise<ApiReply> {
    const records = parseOpsBody(await readJsonBody(req, this.init.maxBodyBytes))
    return { json: this.view.submit(records) }
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::ffff:127.0.0.1'
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
