import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FleetView } from './fleet-view.ts'

/** How the event stream paces itself and how many clients it takes. */
export interface FleetEventsInit {
  /**
   * Clients connected at once; one more is refused with 503 (the page then polls).
   * @default 16
   */
  maxClients?: number
  /**
   * How often the view is compared with what the clients were last told, while any client is connected.
   * @default 1000
   */
  pollMs?: number
  /**
   * Between heartbeat comments, which keep proxies and the browser from timing the stream out.
   * @default 15000
   */
  heartbeatMs?: number
  /**
   * A client whose unsent output grows past this is cut off (it does not read).
   * @default 65536
   */
  maxBufferedBytes?: number
}

/** Defaults of `FleetEventsInit`. */
export const DEFAULT_FLEET_EVENTS_INIT: Readonly<Required<FleetEventsInit>> = {
  maxClients: 16,
  pollMs: 1000,
  heartbeatMs: 15_000,
  maxBufferedBytes: 64 * 1024,
}

/** The versions an event carries: each counts the changes seen of its part of the view. */
export interface FleetEventVersions {
  jobs: number
  workers: number
}

/**
 * `GET /v1/events`: server-sent events telling the dashboard when the job table or the
 * workers changed (`event: jobs` / `event: workers`, data `{"jobs": N, "workers": M}`).
 *
 * @remarks The events carry versions, not data: a page refetches `/v1/dashboard` when one
 * arrives, so a slow page skips states instead of queueing them. The view is compared
 * every `pollMs` only while a client is connected, by a digest of what the page shows
 * (status, attempt, owner, times; a worker's reachability and runs), so nothing in the
 * node has to announce changes. `stop()` ends every stream.
 */
export class FleetEvents {
  private readonly view: FleetView
  private readonly init: Readonly<Required<FleetEventsInit>>
  private readonly clients = new Set<ServerResponse>()
  private poll: NodeJS.Timeout | null = null
  private heartbeat: NodeJS.Timeout | null = null
  private digests = { jobs: '', workers: '' }
  private readonly versions: FleetEventVersions = { jobs: 0, workers: 0 }

  constructor(components: { view: FleetView }, init: FleetEventsInit = {}) {
    this.view = components.view
    this.init = {
      maxClients: init.maxClients ?? DEFAULT_FLEET_EVENTS_INIT.maxClients,
      pollMs: init.pollMs ?? DEFAULT_FLEET_EVENTS_INIT.pollMs,
      heartbeatMs: init.heartbeatMs ?? DEFAULT_FLEET_EVENTS_INIT.heartbeatMs,
      maxBufferedBytes: init.maxBufferedBytes ?? DEFAULT_FLEET_EVENTS_INIT.maxBufferedBytes,
    }
    for (const [k, v] of Object.entries(this.init)) {
      if (!Number.isInteger(v) || v <= 0) throw new TypeError(`${k}: expected a positive integer, got ${v}`)
    }
  }

  /** Clients connected now. */
  get size(): number {
    return this.clients.size
  }

  /**
   * Takes a request as a new stream, or refuses it with 503 when `maxClients` are connected.
   * @returns whether the stream was opened
   */
  attach(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.clients.size >= this.init.maxClients) {
      const body = `${JSON.stringify({ error: `too many event streams (${this.init.maxClients}); poll /v1/dashboard instead` })}\n`
      res.writeHead(503, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        'Cache-Control': 'no-store',
        'Retry-After': '30',
      })
      res.end(body)
      return false
    }
    if (this.clients.size === 0) this.refresh(false)
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      Connection: 'keep-alive',
    })
    if (req.method === 'HEAD') {
      res.end()
      return false
    }
    this.clients.add(res)
    res.on('close', () => this.detach(res))
    res.write(`retry: 3000\nevent: hello\ndata: ${JSON.stringify(this.versions)}\n\n`)
    this.arm()
    return true
  }

  /** Ends every stream and stops the timers. Idempotent. */
  stop(): void {
    for (const res of this.clients) res.end()
    this.clients.clear()
    this.disarm()
  }

  private detach(res: ServerResponse): void {
    this.clients.delete(res)
    if (this.clients.size === 0) this.disarm()
  }

  private arm(): void {
    if (this.poll === null) {
      this.poll = setInterval(() => this.refresh(true), this.init.pollMs)
      this.poll.unref()
    }
    if (this.heartbeat === null) {
      this.heartbeat = setInterval(() => this.send(': heartbeat\n\n'), this.init.heartbeatMs)
      this.heartbeat.unref()
    }
  }

  private disarm(): void {
    if (this.poll !== null) clearInterval(this.poll)
    if (this.heartbeat !== null) clearInterval(this.heartbeat)
    this.poll = null
    this.heartbeat = null
  }

  /** Compares the view with the last digests; tells the clients what changed when `announce`. */
  private refresh(announce: boolean): void {
    let jobs: string
    let workers: string
    try {
      jobs = jobsDigest(this.view)
      workers = workersDigest(this.view)
    } catch {
      return // a view that cannot answer now is asked again at the next poll
    }
    const changed: (keyof FleetEventVersions)[] = []
    if (jobs !== this.digests.jobs) changed.push('jobs')
    if (workers !== this.digests.workers) changed.push('workers')
    this.digests = { jobs, workers }
    for (const part of changed) {
      this.versions[part]++
      if (announce)
        this.send(
          `event: ${part}\nid: ${this.versions.jobs}.${this.versions.workers}\ndata: ${JSON.stringify(this.versions)}\n\n`,
        )
    }
  }

  private send(text: string): void {
    for (const res of this.clients) {
      if (res.writableLength > this.init.maxBufferedBytes) {
        res.destroy()
        this.detach(res)
        continue
      }
      res.write(text)
    }
  }
}

function jobsDigest(view: FleetView): string {
  const parts: string[] = []
  for (const j of view.jobs()) {
    parts.push(`${j.id}:${j.status}:${j.generation}:${j.attempt}:${j.owner}:${j.updatedAt}:${j.spec.priority}`)
  }
  return parts.sort().join('\n')
}

function workersDigest(view: FleetView): string {
  const parts: string[] = []
  for (const w of view.workers()) {
    parts.push(`${w.peer_id}:${w.hostname}:${w.reachable}:${w.score}:${w.store}:${w.trains}:${w.running.join(',')}`)
  }
  return parts.sort().join('\n')
}
