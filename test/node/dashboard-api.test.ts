// biome-ignore-all lint/suspicious/noExplicitAny: the tests read untyped JSON responses
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { encodeRecord } from '../../crdt/index.ts'
import { importBundle } from '../../models/bundle/index.ts'
import {
  ApiServer,
  DASHBOARD_CSP,
  MAX_LOG_KIB,
  readBundleReport,
  runFilesView,
  waitingReason,
  waitingReasons,
} from '../../node/api/index.ts'
import { apiFixture, type Fixture, memoryLogger, T0 } from './api-fixture.ts'

/** A bundle.json as `cis490-node train` writes it (CONTRACTS §7). */
function bundleJson(jobId: string, extra: Record<string, unknown> = {}) {
  return {
    format: 'cis490-bundle/1',
    job_id: jobId,
    model: 'knn',
    mode: 'realistic',
    hyper: { k: 10 },
    schema_hash: 'a'.repeat(64),
    features: ['f1', 'f2'],
    classes: ['idle', 'load'],
    split: {
      test_hosts: ['k-gamingcom'],
      train_hosts: [],
      val_frac: 0.2,
      seed: 0,
      train_rows: 80,
      val_rows: 20,
      test_rows: 40,
    },
    metrics: {
      val_macro_f1: 0.8,
      test_macro_f1: 0.7,
      val_accuracy: 0.85,
      test_accuracy: 0.75,
      per_class_f1: { idle: { val: 0.9, test: 0.8 }, load: { val: 0.7, test: 0.6 } },
      confusion: {
        val: [
          [9, 1],
          [2, 8],
        ],
        test: [
          [15, 5],
          [5, 15],
        ],
      },
    },
    ...extra,
  }
}

/** Reads an event stream until `until` matches what arrived (or the stream ends). */
function readStream(url: string, until: RegExp, timeoutMs = 10_000) {
  return new Promise<{ status: number; headers: Record<string, unknown>; text: string; ended: boolean }>(
    (resolve, reject) => {
      const req = request(url, (res) => {
        let text = ''
        const timer = setTimeout(() => {
          req.destroy()
          reject(new Error(`no ${until} in time; got ${JSON.stringify(text)}`))
        }, timeoutMs)
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          text += c
          if (until.test(text)) {
            clearTimeout(timer)
            req.destroy()
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, ended: false })
          }
        })
        res.on('end', () => {
          clearTimeout(timer)
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, ended: true })
        })
        res.on('error', () => {})
      })
      req.on('error', reject)
      req.end()
    },
  )
}

describe('the dashboard API', () => {
  let fx: Fixture
  let server: ApiServer
  let base: string
  let runsDir: string
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`)
    const text = await res.text()
    let json: any = null
    try {
      json = JSON.parse(text)
    } catch {}
    return { status: res.status, headers: res.headers, text, json }
  }

  before(async () => {
    fx = await apiFixture()
    runsDir = mkdtempSync(join(tmpdir(), 'cis490-dash-runs-'))
    const view = Object.assign(fx.fleet, { runFiles: runFilesView(runsDir) })
    server = new ApiServer(
      { view, logger: memoryLogger() },
      { host: '127.0.0.1', port: 0, events: { maxClients: 2, pollMs: 50, heartbeatMs: 200 } },
    )
    await server.start()
    base = server.url as string
  })
  after(async () => {
    await server?.stop()
    rmSync(runsDir, { recursive: true, force: true })
  })

  it('serves the page and its files with their content types and a strict CSP', async () => {
    const types: Record<string, RegExp> = {
      '/': /^text\/html; charset=utf-8$/,
      '/dashboard.js': /^text\/javascript; charset=utf-8$/,
      '/dom.js': /^text\/javascript/,
      '/chart.js': /^text\/javascript/,
      '/detail.js': /^text\/javascript/,
      '/dashboard.css': /^text\/css; charset=utf-8$/,
      '/favicon.svg': /^image\/svg\+xml$/,
    }
    for (const [path, type] of Object.entries(types)) {
      const r = await get(path)
      assert.equal(r.status, 200, path)
      assert.match(r.headers.get('content-type') ?? '', type, path)
      assert.equal(r.headers.get('content-security-policy'), DASHBOARD_CSP, path)
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path)
      assert.ok(r.text.length > 0)
    }
    assert.match(DASHBOARD_CSP, /default-src 'none'/)
    assert.match(DASHBOARD_CSP, /script-src 'self'(;|$)/)
    assert.doesNotMatch(DASHBOARD_CSP, /unsafe-inline|unsafe-eval|\*/)
    const html = (await get('/')).text
    assert.doesNotMatch(html, /<script>|<style>|\sstyle=|\son[a-z]+=/i, 'no inline code or style in the page')
    // the page's scripts never write HTML
    for (const js of ['/dashboard.js', '/dom.js', '/chart.js', '/detail.js']) {
      assert.doesNotMatch((await get(js)).text, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, js)
    }
  })

  it('serves no other file: unknown paths 404, other methods 405', async () => {
    for (const path of ['/index.js', '/../package.json', '/dashboard/assets.ts', '/%2e%2e/package.json', '/x.css']) {
      assert.equal((await get(path)).status, 404, path)
    }
    const post = await fetch(`${base}/`, { method: 'POST', body: '{}' })
    assert.equal(post.status, 405)
    assert.equal(post.headers.get('allow'), 'GET')
    await post.body?.cancel()
  })

  it('GET /v1/dashboard: one snapshot of health, jobs with why they wait, workers and results', async () => {
    const r = await get('/v1/dashboard')
    assert.equal(r.status, 200)
    const snap = r.json
    assert.deepEqual(snap.health, fx.fleet.health())
    assert.ok(Math.abs(snap.now - Date.now()) < 60_000)
    assert.equal(snap.jobs.length, 19)
    assert.deepEqual(
      snap.jobs.map((j: any) => j.priority),
      [...snap.jobs.map((j: any) => j.priority)].sort((a: number, b: number) => b - a),
    )
    const byId = new Map(snap.jobs.map((j: any) => [j.id, j]))
    const cuda = byId.get(fx.ids.needsCuda) as any
    assert.equal(cuda.status, 'pending')
    assert.match(cuda.waiting, /no live peer may run it: needs CUDA/)
    assert.deepEqual(cuda.test_hosts, [])
    const done1 = byId.get(fx.ids.done1) as any
    assert.equal(done1.waiting, null)
    assert.equal(done1.fit_seconds, 12.5)
    // the contract's row is all there, the extra fields beside it
    const contract = (await get('/v1/jobs')).json.find((j: any) => j.id === fx.ids.done1)
    assert.deepEqual(
      { ...done1, waiting: undefined, test_hosts: undefined, fit_seconds: undefined },
      {
        ...contract,
        waiting: undefined,
        test_hosts: undefined,
        fit_seconds: undefined,
      },
    )
    assert.deepEqual(snap.workers, fx.fleet.workers())
    assert.deepEqual(
      snap.results.map((x: any) => [x.job, x.test_hosts]),
      [
        [fx.ids.done1, []],
        [fx.ids.done2, []],
      ],
    )
  })

  it('waitingReasons gives every pending job the text waitingReason gives it alone', () => {
    const jobs = fx.fleet.jobs()
    const all = waitingReasons(jobs, fx.fleet.workers(), fx.fleet.hostPolicies())
    const pending = jobs.filter((j) => j.status === 'pending')
    assert.equal(all.size, pending.length)
    assert.ok(pending.length >= 10)
    for (const j of pending) {
      assert.equal(all.get(j.id), waitingReason(j, fx.fleet.workers(), fx.fleet.hostPolicies(), jobs), j.id)
    }
    assert.ok([...all.values()].some((t) => /2 pending job\(s\) of higher priority go first/.test(t)))
  })

  it('GET /v1/jobs/{id}/log: the tail of the newest run that has a log, cut at a whole line', async () => {
    const id = fx.ids.running
    assert.equal((await get(`/v1/jobs/${id}/log`)).status, 404, 'no run dir yet')
    const old = join(runsDir, `${id}-g0-r1`)
    const newest = join(runsDir, `${id}-g0-r2`)
    mkdirSync(old, { recursive: true })
    mkdirSync(newest, { recursive: true })
    mkdirSync(join(runsDir, `${id}-g0-r3`)) // newer, but no log yet: skipped
    writeFileSync(join(old, 'train.log'), 'old run\n')
    const lines = Array.from({ length: 3000 }, (_, i) => `epoch ${i} loss ${(1 / (i + 1)).toFixed(6)}`)
    writeFileSync(join(newest, 'train.log'), `${lines.join('\n')}\n`)
    const whole = (await get(`/v1/jobs/${id.slice(0, 10)}/log?kib=${MAX_LOG_KIB}`)).json
    assert.equal(whole.job, id)
    assert.equal(whole.run, `${id}-g0-r2`)
    assert.deepEqual([whole.generation, whole.round, whole.truncated], [0, 2, false])
    assert.equal(whole.text, `${lines.join('\n')}\n`)
    const tail = (await get(`/v1/jobs/${id}/log?kib=1`)).json
    assert.equal(tail.truncated, true)
    assert.equal(tail.size, whole.text.length)
    assert.ok(tail.text.length <= 1024 && tail.text.length > 900)
    assert.match(tail.text, /^epoch \d+ loss /, 'starts at a whole line')
    assert.ok(tail.text.endsWith(`${lines.at(-1)}\n`))
    for (const bad of ['0', '1025', '-1', '1.5', '1e2', 'abc', '']) {
      const r = await get(`/v1/jobs/${id}/log?kib=${bad}`)
      assert.equal(r.status, 400, `kib=${bad}`)
      assert.match(r.json.error, /kib/)
    }
    assert.equal((await get('/v1/jobs/ffffffffffff/log')).status, 404)
    assert.equal((await get(`/v1/jobs/${fx.ids.done2}/log`)).status, 404, 'a job this node never ran')
  })

  it('GET /v1/jobs/{id}/log follows no symlink and reads no path the client names', async () => {
    const id = fx.ids.failed
    const dir = join(runsDir, `${id}-g0-r1`)
    mkdirSync(dir, { recursive: true })
    const secret = join(runsDir, 'secret.txt')
    writeFileSync(secret, 'secret\n')
    symlinkSync(secret, join(dir, 'train.log'))
    assert.equal((await get(`/v1/jobs/${id}/log`)).status, 404)
    assert.equal((await get(`/v1/jobs/..%2F..%2Fetc/log`)).status, 404)
    assert.equal((await get(`/v1/jobs/${id}%2F..%2F..%2Fsecret.txt/log`)).status, 404)
  })

  it('GET /v1/jobs/{id}/metrics: bundle.json of this node’s run, validated; 404 otherwise', async () => {
    const id = fx.ids.done2
    assert.equal((await get(`/v1/jobs/${id}/metrics`)).status, 404)
    const dir = join(runsDir, `${id}-g0-r1`, 'bundle')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'bundle.json'), JSON.stringify(bundleJson(fx.ids.done1)))
    assert.equal((await get(`/v1/jobs/${id}/metrics`)).status, 404, "another job's bundle")
    writeFileSync(join(dir, 'bundle.json'), JSON.stringify({ ...bundleJson(id), metrics: { val_macro_f1: 2 } }))
    assert.equal((await get(`/v1/jobs/${id}/metrics`)).status, 404, 'an invalid bundle.json')
    writeFileSync(join(dir, 'bundle.json'), '{not json')
    assert.equal((await get(`/v1/jobs/${id}/metrics`)).status, 404)
    writeFileSync(join(dir, 'bundle.json'), JSON.stringify(bundleJson(id)))
    const r = await get(`/v1/jobs/${id}/metrics`)
    assert.equal(r.status, 200)
    assert.equal(r.json.job, id)
    assert.equal(r.json.bundle, 'bafy-cpu-box-0.8')
    assert.equal(r.json.run, `${id}-g0-r1`)
    assert.deepEqual(r.json.classes, ['idle', 'load'])
    assert.deepEqual(r.json.metrics.per_class_f1.load, { val: 0.7, test: 0.6 })
    assert.deepEqual(r.json.metrics.confusion.test, [
      [15, 5],
      [5, 15],
    ])
    assert.deepEqual(r.json.split.test_hosts, ['k-gamingcom'])
    assert.equal(r.json.split.test_rows, 40)
  })

  it('reads bundle.json from the block store when no run of this node left it', async () => {
    const jobId = fx.ids.done1
    const dir = mkdtempSync(join(tmpdir(), 'cis490-dash-bundle-'))
    try {
      writeFileSync(join(dir, 'bundle.json'), JSON.stringify(bundleJson(jobId)))
      writeFileSync(join(dir, 'README.md'), 'how to load\n')
      const blocks = new Map<string, Uint8Array>()
      const cid = await importBundle(dir, {
        put: async (c: any, bytes: Uint8Array) => {
          blocks.set(c.toString(), bytes)
          return c
        },
      })
      const readBlock = async (c: any) => blocks.get(c.toString()) ?? null
      const report = await readBundleReport(runsDir, jobId, cid, readBlock)
      assert.equal(report?.source, 'blocks')
      assert.equal(report?.run, null)
      assert.equal(report?.bundle, cid)
      assert.deepEqual(report?.metrics.confusion.val, [
        [9, 1],
        [2, 8],
      ])
      assert.equal(await readBundleReport(runsDir, fx.ids.requeued, cid, readBlock), null, "another job's bundle")
      assert.equal(await readBundleReport(runsDir, jobId, 'not-a-cid', readBlock), null)
      assert.equal(await readBundleReport(runsDir, jobId, cid), null, 'no block store')
      const missing = new Map(blocks)
      for (const k of [...missing.keys()].filter((k) => k !== cid)) missing.delete(k)
      assert.equal(
        await readBundleReport(runsDir, jobId, cid, async (c: any) => missing.get(c.toString()) ?? null),
        null,
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('GET /v1/events: a hello, heartbeats, an event when the table changes', async () => {
    const hello = await readStream(`${base}/v1/events`, /event: hello\ndata: [^\n]+\n\n/)
    assert.equal(hello.status, 200)
    assert.match(String(hello.headers['content-type']), /^text\/event-stream/)
    assert.equal(hello.headers['cache-control'], 'no-store')
    assert.match(hello.text, /^retry: \d+\n/)
    const versions = JSON.parse(/event: hello\ndata: ([^\n]+)/.exec(hello.text)?.[1] ?? '')
    assert.deepEqual(Object.keys(versions).sort(), ['jobs', 'workers'])

    assert.match((await readStream(`${base}/v1/events`, /: heartbeat\n\n/)).text, /: heartbeat\n\n/)

    const change = readStream(`${base}/v1/events`, /event: jobs\nid: [^\n]+\ndata: [^\n]+\n\n/)
    await new Promise((r) => setTimeout(r, 150))
    fx.fleet.log.push(encodeRecord({ t: 'cancel', j: fx.ids.fillers[1], at: T0 + 60_000, g: 0 }, fx.operator))
    const got = await change
    const data = JSON.parse(/event: jobs\nid: [^\n]+\ndata: ([^\n]+)/.exec(got.text)?.[1] ?? '')
    assert.ok(data.jobs > versions.jobs, 'the jobs version grew')
    assert.doesNotMatch(got.text, /event: workers/, 'workers did not change')
  })

  it('GET /v1/events takes at most maxClients streams; more get 503', async () => {
    const open: ReturnType<typeof request>[] = []
    const connect = () =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${base}/v1/events`, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on('error', reject)
        req.end()
        open.push(req)
      })
    try {
      assert.equal(await connect(), 200)
      assert.equal(await connect(), 200)
      const refused = await fetch(`${base}/v1/events`)
      assert.equal(refused.status, 503)
      assert.match(((await refused.json()) as any).error, /too many event streams/)
    } finally {
      for (const r of open) r.destroy()
    }
    // closed streams free their places
    await new Promise((r) => setTimeout(r, 100))
    const again = await readStream(`${base}/v1/events`, /event: hello/)
    assert.equal(again.status, 200)
  })

  it('stopping the server ends every event stream', async () => {
    const logger = memoryLogger()
    const s = new ApiServer({ view: fx.fleet, logger }, { host: '127.0.0.1', port: 0 })
    await s.start()
    try {
      const stream = readStream(`${s.url}/v1/events`, /never/)
      await new Promise((r) => setTimeout(r, 200))
      await s.stop()
      const r = await stream
      assert.equal(r.ended, true)
      assert.match(r.text, /event: hello/)
    } finally {
      await s.stop()
    }
  })
})
