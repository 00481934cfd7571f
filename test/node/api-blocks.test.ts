// biome-ignore-all lint/suspicious/noExplicitAny: the tests read untyped JSON responses
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as digestOf } from 'multiformats/hashes/digest'
import { ApiServer, type BlockView, type FetchJson, RAW_BLOCK_TYPE } from '../../node/api/index.ts'
import { BlockBytesError, IncompleteDagError, parseCid } from '../../node/blocks/index.ts'
import { apiFixture, type Fixture, memoryLogger } from './api-fixture.ts'

function rawCid(bytes: Uint8Array): string {
  return CID.createV1(raw.code, digestOf(0x12, createHash('sha256').update(bytes).digest())).toString()
}

/** A block store in memory with the real checks' outcomes (bad CID, bytes that do not hash, incomplete DAG). */
class FakeBlocks implements BlockView {
  readonly fetches: { cid: string; providers: readonly string[]; timeoutMs?: number }[] = []
  readonly stored = new Map<string, Uint8Array>()
  readonly pinned = new Set<string>()
  fetch(cid: string, options: { timeoutMs?: number; providers?: readonly string[] }): FetchJson {
    if (!cid.startsWith('bafy-')) parseCid(cid) // the fixture's bundle CIDs are placeholders
    this.fetches.push({ cid, providers: options.providers ?? [], timeoutMs: options.timeoutMs })
    return { cid, state: 'fetching', blocks: 0, blocks_known: 1, bytes: 0, error: null, started_at: 1, ended_at: null }
  }
  fetchStatus(cid: string): FetchJson | null {
    parseCid(cid)
    const f = this.fetches.find((x) => x.cid === cid)
    return f === undefined
      ? null
      : { cid, state: 'done', blocks: 3, blocks_known: 3, bytes: 10, error: null, started_at: 1, ended_at: 2 }
  }
  async block(cid: string): Promise<Uint8Array | null> {
    parseCid(cid)
    return this.stored.get(cid) ?? null
  }
  async putBlock(cid: string, bytes: Uint8Array): Promise<boolean> {
    parseCid(cid)
    if (rawCid(bytes) !== cid) throw new BlockBytesError(`block ${cid}: the bytes given do not hash to this CID`)
    const added = !this.stored.has(cid)
    this.stored.set(cid, bytes)
    return added
  }
  async pin(cid: string): Promise<void> {
    parseCid(cid)
    if (!this.stored.has(cid))
      throw new IncompleteDagError(`pin ${cid}: the DAG is not all stored here; fetch it first`)
    this.pinned.add(cid)
  }
}

describe('the API block routes (/v1/fetch, /v1/blocks, /v1/pins)', () => {
  let fx: Fixture
  let blocks: FakeBlocks
  let server: ApiServer
  let bare: ApiServer
  let base: string
  const send = async (path: string, init: { method?: string; type?: string; body?: string | Uint8Array } = {}) => {
    const res = await fetch(`${base}${path}`, {
      method: init.method ?? 'POST',
      headers: init.type === undefined ? {} : { 'content-type': init.type },
      body: init.body,
    })
    const type = res.headers.get('content-type') ?? ''
    const body = type.startsWith('application/json') ? await res.json() : new Uint8Array(await res.arrayBuffer())
    return { status: res.status, type, body: body as any }
  }
  const postJson = (path: string, body: unknown) => send(path, { type: 'application/json', body: JSON.stringify(body) })

  before(async () => {
    fx = await apiFixture()
    blocks = new FakeBlocks()
    server = new ApiServer({ view: fx.fleet, blocks, logger: memoryLogger() }, { host: '127.0.0.1', port: 0 })
    bare = new ApiServer({ view: fx.fleet, logger: memoryLogger() }, { host: '127.0.0.1', port: 0 })
    await Promise.all([server.start(), bare.start()])
    base = server.url as string
  })
  after(() => Promise.all([server.stop(), bare.stop()]))

  it("POST /v1/fetch by job prefix fetches the job's bundle, asking its owner first", async () => {
    const job = fx.fleet.jobs().find((j) => j.id === fx.ids.done1)
    assert.ok(job?.bundle !== null && job?.owner !== null)
    const r = await postJson('/v1/fetch', { job: fx.ids.done1.slice(0, 12), timeout_s: 5 })
    assert.equal(r.status, 202, JSON.stringify(r.body))
    assert.equal(r.body.job, fx.ids.done1)
    assert.equal(r.body.cid, job?.bundle)
    const call = blocks.fetches.at(-1)
    assert.equal(call?.cid, job?.bundle)
    assert.equal(call?.providers[0], job?.owner)
    assert.equal(call?.timeoutMs, 5000)
  })

  it('refuses what it cannot fetch, naming it: a job without a bundle, an unknown job, a bad CID', async () => {
    const running = await postJson('/v1/fetch', { job: fx.ids.running })
    assert.equal(running.status, 409)
    assert.match(running.body.error, /is (running|claimed): it has no bundle yet/)
    const unknown = await postJson('/v1/fetch', { job: 'ffffffffffff' })
    assert.equal(unknown.status, 404)
    assert.match(unknown.body.error, /ffffffffffff/)
    const bad = await postJson('/v1/fetch', { cid: 'bafynotacid' })
    assert.equal(bad.status, 400)
    assert.match(bad.body.error, /bafynotacid.*not a CID/)
    for (const body of [
      {},
      { cid: 'x', job: 'ab' },
      { cid: 'x', extra: 1 },
      { job: 'zz' },
      { job: 'ab', timeout_s: -1 },
    ]) {
      const r = await postJson('/v1/fetch', body)
      assert.equal(r.status, 400, JSON.stringify(body))
    }
    const plain = await send('/v1/fetch', { type: 'text/plain', body: JSON.stringify({ job: fx.ids.done1 }) })
    assert.equal(plain.status, 415, 'a web page cannot start fetches (text/plain needs no preflight)')
  })

  it('GET /v1/fetch/{cid}: the fetch state, 404 for a CID never fetched', async () => {
    const cid = rawCid(new Uint8Array([1, 2, 3]))
    assert.equal((await postJson('/v1/fetch', { cid })).status, 202)
    const s = await send(`/v1/fetch/${cid}`, { method: 'GET' })
    assert.equal(s.status, 200)
    assert.equal(s.body.state, 'done')
    const never = await send(`/v1/fetch/${rawCid(new Uint8Array([9]))}`, { method: 'GET' })
    assert.equal(never.status, 404)
  })

  it('POST then GET /v1/blocks/{cid}: bytes that hash to the CID are stored and served; others refused', async () => {
    const bytes = new Uint8Array([5, 6, 7, 8])
    const cid = rawCid(bytes)
    assert.equal((await send(`/v1/blocks/${cid}`, { method: 'GET' })).status, 404)
    const wrongType = await send(`/v1/blocks/${cid}`, { type: 'application/octet-stream', body: bytes })
    assert.equal(wrongType.status, 415)
    const wrongBytes = await send(`/v1/blocks/${cid}`, { type: RAW_BLOCK_TYPE, body: new Uint8Array([1]) })
    assert.equal(wrongBytes.status, 400)
    assert.match(wrongBytes.body.error, /do not hash/)
    const put = await send(`/v1/blocks/${cid}`, { type: RAW_BLOCK_TYPE, body: bytes })
    assert.deepEqual(put.body, { cid, new: true })
    assert.equal((await send(`/v1/blocks/${cid}`, { type: RAW_BLOCK_TYPE, body: bytes })).body.new, false)
    const got = await send(`/v1/blocks/${cid}`, { method: 'GET' })
    assert.equal(got.status, 200)
    assert.equal(got.type, RAW_BLOCK_TYPE)
    assert.deepEqual(got.body, bytes)
  })

  it('POST /v1/pins pins a stored root, 409 when the DAG is not here', async () => {
    const bytes = new Uint8Array([42])
    const cid = rawCid(bytes)
    const missing = await postJson('/v1/pins', { cid })
    assert.equal(missing.status, 409)
    assert.match(missing.body.error, /fetch it first/)
    await send(`/v1/blocks/${cid}`, { type: RAW_BLOCK_TYPE, body: bytes })
    assert.deepEqual((await postJson('/v1/pins', { cid })).body, { cid, pinned: true })
    assert.ok(blocks.pinned.has(cid))
  })

  it('a server without a block store answers 503 on these routes', async () => {
    const res = await fetch(`${bare.url}/v1/fetch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ cid: rawCid(new Uint8Array([1])) }),
    })
    assert.equal(res.status, 503)
    await res.body?.cancel()
  })
})
