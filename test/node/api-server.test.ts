// biome-ignore-all lint/suspicious/noExplicitAny: the tests read untyped JSON responses
import assert from 'node:assert/strict'
import { Agent, request } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { cancelRecords, encodeRecord, requeueRecords, specRecord } from '../../crdt/index.ts'
import { ApiListenError, ApiServer, waitingReason } from '../../node/api/index.ts'
import { apiFixture, type Fixture, memoryLogger } from './api-fixture.ts'

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')

/** A raw request (for what fetch will not send: huge declared lengths, streamed bodies, odd methods). */
function raw(
  url: string,
  opts: { method?: string; headers?: Record<string, string | number>; chunks?: (Buffer | string)[] } = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => {
        body += c
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
      res.on('error', reject)
    })
    req.on('error', reject)
    for (const c of opts.chunks ?? []) req.write(c)
    req.end()
  })
}

describe('ApiServer', () => {
  let fx: Fixture
  let server: ApiServer
  let base: string
  const logger = memoryLogger()
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`)
    return { status: res.status, type: res.headers.get('content-type'), json: (await res.json()) as any }
  }
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
    return { status: res.status, json: (await res.json()) as any }
  }

  before(async () => {
    fx = await apiFixture()
    server = new ApiServer({ view: fx.fleet, logger }, { host: '127.0.0.1', port: 0, maxBodyBytes: 64 * 1024 })
    await server.start()
    base = server.url as string
  })
  after(() => server.stop())

  it('binds where told and exposes the bound address', () => {
    const addr = server.address()
    assert.equal(addr?.host, '127.0.0.1')
    assert.ok(typeof addr?.port === 'number' && addr.port > 0)
    assert.equal(base, `http://127.0.0.1:${addr.port}`)
    assert.ok(logger.lines.some((l) => l.level === 'info' && l.msg === 'api: listening'))
  })

  it('GET /v1/health', async () => {
    const r = await get('/v1/health')
    assert.equal(r.status, 200)
    assert.match(r.type ?? '', /^application\/json/)
    assert.deepEqual(r.json, fx.fleet.health())
  })

  it('GET /v1/jobs: the contract rows, full ids, nulls where unknown, filters', async () => {
    const r = await get('/v1/jobs')
    assert.equal(r.status, 200)
    assert.equal(r.json.length, 19)
    const keys = [
      'id',
      'model',
      'mode',
      'status',
      'attempt',
      'max_attempts',
      'generation',
      'owner',
      'host',
      'priority',
      'bundle',
      'val_macro_f1',
      'test_macro_f1',
      'error',
      'updated_at',
    ]
    for (const row of r.json) assert.deepEqual(Object.keys(row), keys)
    const byId = new Map(r.json.map((j: any) => [j.id, j]))
    assert.deepEqual(byId.get(fx.ids.done1), {
      id: fx.ids.done1,
      model: 'gbt',
      mode: 'realistic',
      status: 'completed',
      attempt: 2,
      max_attempts: 3,
      generation: 0,
      owner: fx.peers.gpu.id,
      host: 'gpu-box',
      priority: 100,
      bundle: 'bafy-gpu-box-0.91',
      val_macro_f1: 0.91,
      test_macro_f1: 0.85,
      error: null,
      updated_at: 1_700_000_100_000,
    })
    const running = byId.get(fx.ids.running) as any
    assert.equal(running.status, 'running')
    assert.equal(running.host, 'cpu-box')
    const failed = byId.get(fx.ids.failed) as any
    assert.deepEqual([failed.status, failed.attempt, failed.error], ['failed', 1, 'CUDA out of memory'])
    const pending = byId.get(fx.ids.needsCuda) as any
    assert.deepEqual([pending.owner, pending.host, pending.bundle, pending.val_macro_f1], [null, null, null, null])

    const completed = await get('/v1/jobs?status=completed')
    assert.deepEqual(completed.json.map((j: any) => j.id).sort(), [fx.ids.done1, fx.ids.done2].sort())
    const gbt = await get('/v1/jobs?model=gbt&mode=realistic')
    assert.deepEqual(gbt.json.map((j: any) => j.id).sort(), [fx.ids.done1, fx.ids.needsCuda].sort())
    assert.equal((await get('/v1/jobs?mode=oracle')).json.length, 12)
    const bad = await get('/v1/jobs?status=done')
    assert.equal(bad.status, 400)
    assert.match(bad.json.error, /status "done": expected one of pending, claimed/)
  })

  it('GET /v1/jobs/{prefix}: attempts and why a pending job waits', async () => {
    const r = await get(`/v1/jobs/${fx.ids.done1.slice(0, 10)}`)
    assert.equal(r.status, 200)
    assert.equal(r.json.id, fx.ids.done1)
    assert.equal(r.json.waiting, null)
    assert.equal(r.json.spec.model, 'gbt')
    assert.deepEqual(r.json.attempts, [
      {
        generation: 0,
        attempt: 1,
        round: 1,
        owner: fx.peers.box2.id,
        host: 'laptop',
        claimed_at: 1_700_000_001_000,
        started_at: 1_700_000_001_100,
        ended_at: 1_700_000_040_000,
        outcome: 'lapsed',
        error: 'lease lapsed on laptop',
      },
      {
        generation: 0,
        attempt: 2,
        round: 2,
        owner: fx.peers.gpu.id,
        host: 'gpu-box',
        claimed_at: 1_700_000_041_000,
        started_at: 1_700_000_041_500,
        ended_at: 1_700_000_100_000,
        outcome: 'completed',
        error: null,
      },
    ])
    const cuda = await get(`/v1/jobs/${fx.ids.needsCuda.toUpperCase()}`)
    assert.equal(cuda.status, 200)
    assert.equal(cuda.json.status, 'pending')
    assert.deepEqual(cuda.json.attempts, [])
    assert.equal(cuda.json.waiting, 'no live peer may run it: needs CUDA; cpu-box denies gbt')
    const requeued = await get(`/v1/jobs/${fx.ids.requeued}`)
    assert.equal(requeued.json.generation, 1)
    assert.deepEqual(
      requeued.json.attempts.map((a: any) => [a.generation, a.attempt, a.outcome]),
      [[0, 1, 'completed']],
    )
    assert.match(
      requeued.json.waiting,
      /^waiting to be claimed by box2; \d+ pending job\(s\) of higher priority go first$/,
    )
  })

  it('GET /v1/jobs/{prefix}: 404 with a reason for unknown, ambiguous and non-hex prefixes', async () => {
    const ids = (await get('/v1/jobs')).json.map((j: any) => j.id as string)
    const digit = '0123456789abcdef'.split('').find((d) => ids.filter((id: string) => id.startsWith(d)).length > 1)
    assert.ok(digit !== undefined) // 19 jobs over 16 digits
    const amb = await get(`/v1/jobs/${digit}`)
    assert.equal(amb.status, 404)
    assert.match(amb.json.error, new RegExp(`job id "${digit}": ambiguous, matches [0-9a-f]{12}, [0-9a-f]{12}`))
    const unknownPrefix = '0123456789abcdef'
      .split('')
      .find((d) => !ids.some((id: string) => id.startsWith(`${d}${d}${d}`)))
    const none = await get(`/v1/jobs/${unknownPrefix}${unknownPrefix}${unknownPrefix}`)
    assert.equal(none.status, 404)
    assert.match(none.json.error, /no job has this id or prefix/)
    const nonHex = await get('/v1/jobs/zz%20top')
    assert.equal(nonHex.status, 404)
    assert.match(nonHex.json.error, /job id "zz top": expected hex digits/)
  })

  it('GET /v1/workers and /v1/results (completed jobs, best val_macro_f1 first)', async () => {
    const w = await get('/v1/workers')
    assert.equal(w.status, 200)
    assert.deepEqual(w.json, fx.fleet.workers())
    const r = await get('/v1/results')
    assert.equal(r.status, 200)
    assert.deepEqual(r.json, [
      {
        job: fx.ids.done1,
        model: 'gbt',
        mode: 'realistic',
        val_macro_f1: 0.91,
        test_macro_f1: 0.85,
        bundle: 'bafy-gpu-box-0.91',
        host: 'gpu-box',
        fit_seconds: 12.5,
      },
      {
        job: fx.ids.done2,
        model: 'knn',
        mode: 'realistic',
        val_macro_f1: 0.8,
        test_macro_f1: 0.7,
        bundle: 'bafy-cpu-box-0.8',
        host: 'cpu-box',
        fit_seconds: 3.25,
      },
    ])
  })

  it('POST /v1/ops: verifies, appends, is idempotent, rejects by index', async () => {
    const jobs = fx.fleet.jobs()
    const pending = jobs.find((j) => j.id === fx.ids.fillers[0])
    assert.ok(pending !== undefined)
    const cancel = cancelRecords(fx.operator, pending, 1_700_000_500_000)
    const forged = encodeRecord(specRecord({ ...fx.specs[0], priority: 1 }, 1), fx.peers.cpu)
    const garbage = new Uint8Array([1, 2, 3, 4])
    const r = await post('/v1/ops', { records: [b64(cancel[0]), b64(forged), b64(garbage)] })
    assert.equal(r.status, 200)
    assert.equal(r.json.accepted, 1)
    assert.equal(r.json.unchanged, 0)
    assert.deepEqual(
      r.json.rejected.map((x: any) => x.index),
      [1, 2],
    )
    assert.match(r.json.rejected[0].reason, /operator_keys/)
    assert.equal((await get(`/v1/jobs/${pending.id}`)).json.status, 'cancelled')
    const again = await post('/v1/ops', { records: [b64(cancel[0])] })
    assert.deepEqual(again.json, { accepted: 0, unchanged: 1, rejected: [] })
    const requeue = requeueRecords(fx.operator, { ...pending, status: 'cancelled' }, {}, 1_700_000_600_000)
    assert.equal((await post('/v1/ops', { records: requeue.map(b64) })).json.accepted, 1)
    assert.equal((await get(`/v1/jobs/${pending.id}`)).json.generation, 1)
  })

  it('POST /v1/ops: 400 with a reason for bad JSON and wrong shapes', async () => {
    const cases: [unknown, RegExp][] = [
      ['{"records": [', /bad JSON/],
      ['', /empty body/],
      ['[]', /expected an object/],
      [{ records: [] }, /records: expected a non-empty array/],
      [{ records: 'abc' }, /records: expected a non-empty array/],
      [{ records: ['AAAA', 42] }, /records\[1\]: expected a base64 string/],
      [{ records: ['not base64!'] }, /records\[0\]: expected a base64 string/],
      [{ records: ['AAAA'], extra: 1 }, /unknown field "extra"/],
    ]
    for (const [body, reason] of cases) {
      const r = await post('/v1/ops', body)
      assert.equal(r.status, 400, JSON.stringify(body))
      assert.match(r.json.error, reason)
    }
    const notUtf8 = await raw(`${base}/v1/ops`, { method: 'POST', chunks: [Buffer.from([0xff, 0xfe, 0x7b])] })
    assert.equal(notUtf8.status, 400)
  })

  it('POST /v1/ops: 413 for bodies over the limit, declared or streamed', async () => {
    const declared = await raw(`${base}/v1/ops`, {
      method: 'POST',
      headers: { 'content-length': 10_000_000, 'content-type': 'application/json' },
    }).catch((err) => ({ status: -1, body: String(err), headers: {} }))
    assert.equal(declared.status, 413)
    assert.match(JSON.parse(declared.body).error, /10000000 bytes exceeds the limit of 65536 bytes/)
    const big = `{"records": ["${'A'.repeat(70 * 1024)}"]}`
    const chunks = [big.slice(0, 30_000), big.slice(30_000, 60_000), big.slice(60_000)]
    const streamed = await raw(`${base}/v1/ops`, {
      method: 'POST',
      headers: { 'transfer-encoding': 'chunked' },
      chunks,
    })
    assert.equal(streamed.status, 413)
    assert.match(JSON.parse(streamed.body).error, /exceeds the limit of 65536 bytes/)
    // The server still answers afterwards.
    assert.equal((await get('/v1/health')).status, 200)
  })

  it('answers only loopback Host names (no DNS rebinding through a browser)', async () => {
    const port = server.address()?.port as number
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
      assert.equal((await raw(`${base}/v1/health`, { headers: { host } })).status, 200, host)
    }
    const evil = await raw(`${base}/v1/jobs`, { headers: { host: `evil.example:${port}` } })
    assert.equal(evil.status, 403)
    assert.match(JSON.parse(evil.body).error, /Host "evil\.example:\d+" is not this loopback API/)
  })

  it('unknown paths 404 (/metrics too on a server given no metrics); wrong methods 405 with Allow', async () => {
    for (const path of ['/v1', '/v1/jobs/abc/def', '/v2/health', '/index.html']) {
      const r = await get(path)
      assert.equal(r.status, 404, path)
      assert.match(r.json.error, /no such path/)
    }
    assert.equal((await get('/metrics')).status, 404)
    const r = await raw(`${base}/v1/jobs`, { method: 'DELETE' })
    assert.equal(r.status, 405)
    assert.equal(r.headers.allow, 'GET')
    const head = await raw(`${base}/v1/health`, { method: 'HEAD' })
    assert.deepEqual([head.status, head.body], [200, ''])
    const ops = await raw(`${base}/v1/ops`)
    assert.equal(ops.status, 405)
    assert.equal(ops.headers.allow, 'POST')
    assert.match(JSON.parse(ops.body).error, /GET is not allowed on \/v1\/ops/)
  })
})

describe('ApiServer lifecycle', () => {
  it('start/stop are idempotent, stop closes keep-alive connections, stop before start is safe', async (t) => {
    const fx = await apiFixture()
    const server = new ApiServer({ view: fx.fleet, logger: memoryLogger() }, { port: 0 })
    t.after(() => server.stop())
    await server.stop()
    await server.start()
    await server.start()
    const agent = new Agent({ keepAlive: true })
    t.after(() => agent.destroy())
    const url = server.url as string
    const res = await new Promise<number>((resolve, reject) => {
      request(`${url}/v1/health`, { agent }, (r) => {
        r.resume()
        r.on('end', () => resolve(r.statusCode ?? 0))
      })
        .on('error', reject)
        .end()
    })
    assert.equal(res, 200)
    const t0 = Date.now()
    await server.stop()
    await server.stop()
    assert.ok(Date.now() - t0 < 2000, 'stop waited for a keep-alive connection')
    assert.equal(server.address(), null)
    await assert.rejects(fetch(`${url}/v1/health`))
  })

  it('a taken port fails start with an error naming the address', async (t) => {
    const fx = await apiFixture()
    const a = new ApiServer({ view: fx.fleet, logger: memoryLogger() }, { port: 0 })
    t.after(() => a.stop())
    await a.start()
    const port = a.address()?.port as number
    const b = new ApiServer({ view: fx.fleet, logger: memoryLogger() }, { port })
    t.after(() => b.stop())
    await assert.rejects(b.start(), (err: Error) => {
      assert.ok(err instanceof ApiListenError)
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}: EADDRINUSE`))
      return true
    })
    assert.equal(b.address(), null)
  })
})

describe('waitingReason', () => {
  it('names busy peers, and says so when no peer is reachable', async () => {
    const fx = await apiFixture()
    const job = fx.fleet.jobs().find((j) => j.id === fx.ids.fillers[0])
    assert.ok(job !== undefined)
    const workers = fx.fleet.workers().map((w) => ({ ...w, running: [fx.ids.running] }))
    assert.equal(
      waitingReason(job, workers, fx.fleet.hostPolicies()),
      'every live peer that may run it is busy: box2 (1/1), cpu-box (1/1)',
    )
    assert.equal(
      waitingReason(
        job,
        workers.map((w) => ({ ...w, reachable: false })),
        fx.fleet.hostPolicies(),
      ),
      'no live peer: no worker is reachable from this node',
    )
    const live = fx.fleet.workers()
    const policies = fx.fleet.hostPolicies()
    const withSpec = (spec: object) => ({ ...job, spec: { ...job.spec, ...spec } })
    assert.equal(
      waitingReason(withSpec({ min_ram_gib: 100 }), live, policies),
      'no live peer may run it: needs 100 GiB of RAM (most on a live peer: 32 GiB)',
    )
    assert.equal(
      waitingReason(withSpec({ allowed_hosts: ['gpu-box'] }), live, policies),
      'no live peer may run it: only gpu-box may run it (allowed_hosts)',
    )
    const allowGbt = new Map([['cpu-box', { allow_jobs: ['gbt' as const], deny_jobs: [], max_concurrent: 1 }]])
    assert.equal(
      waitingReason(withSpec({ model: 'mlp' }), live, allowGbt),
      'no live peer may run it: needs the tfjs runtime; cpu-box allows only gbt',
    )
    assert.match(
      waitingReason(withSpec({ model: 'xgb9' }), live, new Map()) ?? '',
      /^no live peer may run it: needs a newer cis490-node \(model xgb9/,
    )
    const running = fx.fleet.jobs().find((j) => j.id === fx.ids.running)
    assert.ok(running !== undefined)
    assert.equal(waitingReason(running, workers, fx.fleet.hostPolicies()), null)
  })
})
